"""Covariates: inputs from other series and from the calendar, next to a ticker's features.

Past covariates come from the universe's bars, aligned on each ticker's sessions, and
at day t use returns up to t only:

- ``market_return``: the equal-weight mean log return of the universe on day t
  (every ticker with a bar that day);
- ``sector_return``: the same mean over the universe's tickers of the ticker's sector
  (stocknet's sectors; where sectors are unknown every ticker is in one sector, and a
  ticker whose sector has no stock in the universe gets the market's mean).

Known-future covariates describe the ``horizon`` sessions after day t on the
ticker's exchange calendar, so the model sees the days it forecasts; they depend on
the calendar as scheduled in advance (ad-hoc closures such as Hurricane Sandy's count
as sessions: nobody knew them beforehand):

- ``future_day_of_week``: the weekday (0 = Monday) of each of the next sessions, one
  column per step (``future_day_of_week_1`` .. ``_<horizon>``);
- ``future_month_end``: 1.0 where that session is its month's last, one column per step;
- ``sessions_to_holiday``: sessions after day t before the next weekday the exchange
  is closed (capped at :data:`HOLIDAY_CAP`).

:class:`fincast.data.recipe.FeatureRecipe` builds a model's input columns from these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fincast.data.calendars import scheduled_sessions
from fincast.data.features import log_return
from fincast.data.sources import MarketDataError
from fincast.specs import PAST_COVARIATES

PAST = PAST_COVARIATES
FUTURE = ("future_day_of_week", "future_month_end", "sessions_to_holiday")
PER_STEP = ("future_day_of_week", "future_month_end")
# identity columns of a global model's learned embeddings (fincast.models.identity)
EMBEDDINGS = ("ticker", "sector")
HOLIDAY_CAP = 20
# calendar days of sessions built past the last date (covers any horizon below ~40 sessions)
LOOKAHEAD_DAYS = 70


def check_covariates(names: Sequence[str]) -> None:
    """A ValueError naming an unknown covariate and the known ones."""
    unknown = [name for name in names if name not in PAST + FUTURE]
    if unknown:
        raise ValueError(
            f"features.covariates: unknown {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(PAST + FUTURE)}. Received: features.covariates={list(names)}"
        )


def check_embeddings(names: Sequence[str]) -> None:
    """A ValueError naming an unknown embedding."""
    unknown = [name for name in names if name not in EMBEDDINGS]
    if unknown:
        raise ValueError(
            f"features.embeddings: unknown {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(EMBEDDINGS)}. Received: features.embeddings={list(names)}"
        )


def identities_of(embeddings: Sequence[str], normalise: str = "global") -> list[str]:
    """The identity columns a model needs: its embeddings', and the ticker's to normalise
    per ticker.

    >>> identities_of(["sector"], "ticker")
    ['ticker', 'sector']
    """
    wanted = {*embeddings, *(["ticker"] if normalise == "ticker" else [])}
    return [name for name in EMBEDDINGS if name in wanted]


def model_columns(
    names: Sequence[str], covariates: Sequence[str], identities: Sequence[str], horizon: int
) -> list[str]:
    """A model's input columns: features, covariates, then identity columns.

    >>> model_columns(["log_return"], ["market_return"], ["ticker"], 5)
    ['log_return', 'market_return', 'ticker_id']
    """
    identity = [f"{name}_id" for name in identities]
    return [*names, *covariate_columns(covariates, horizon), *identity]


def embedded_positions(columns: Sequence[str], embeddings: Sequence[str]) -> list[int]:
    """Where the embedded identity columns (``ticker_id``, ``sector_id``) are in ``columns``."""
    embedded = {f"{name}_id" for name in embeddings}
    return [position for position, column in enumerate(columns) if column in embedded]


def covariate_columns(names: Sequence[str], horizon: int) -> list[str]:
    """The input columns the covariates add, in order.

    >>> covariate_columns(["market_return", "future_month_end"], 2)
    ['market_return', 'future_month_end_1', 'future_month_end_2']
    """
    columns: list[str] = []
    for name in names:
        if name in PER_STEP:
            columns += [f"{name}_{step}" for step in range(1, horizon + 1)]
        else:
            columns.append(name)
    return columns


def universe_returns(bars: Mapping[str, pd.DataFrame], price: str) -> pd.DataFrame:
    """Every ticker's daily log return, one column each, on the union of their dates."""
    return pd.DataFrame({ticker: log_return(frame, price) for ticker, frame in bars.items()})


def past_covariates(
    returns: pd.DataFrame, ticker: str, names: Sequence[str], sectors: Mapping[str, str]
) -> pd.DataFrame:
    """The past covariates of ``ticker`` on every date of ``returns`` (means over tickers)."""
    columns: dict[str, pd.Series] = {}
    if "market_return" in names:
        columns["market_return"] = returns.mean(axis=1)
    if "sector_return" in names:
        sector = sectors.get(ticker, "")
        peers = [name for name in returns.columns if sectors.get(name, "") == sector]
        # a ticker outside the universe's sectors: its sector is the whole universe
        columns["sector_return"] = returns[peers or list(returns.columns)].mean(axis=1)
    return pd.DataFrame(columns, index=returns.index)


def future_covariates(
    dates: pd.DatetimeIndex, names: Sequence[str], horizon: int, calendar: str | None
) -> pd.DataFrame:
    """The known-future covariates of each of ``dates``: the next ``horizon`` sessions."""
    end = dates.max() + pd.Timedelta(days=LOOKAHEAD_DAYS + 2 * horizon)
    if calendar:  # as scheduled: an ad-hoc closure was not known in advance
        sessions = scheduled_sessions(calendar, dates.min(), end)
    else:
        sessions = pd.bdate_range(dates.min(), end)
    first = sessions.searchsorted(dates, side="right")  # the first session after each date
    if int(first.max()) + horizon > len(sessions):
        raise MarketDataError(
            f"Calendar {calendar!r} has too few sessions after {dates.max().date()} for "
            f"{horizon} known-future steps."
        )
    columns: dict[str, np.ndarray] = {}
    month = sessions.month.to_numpy()
    last_of_month = np.append(month[1:] != month[:-1], False).astype("float64")
    for step in range(horizon):
        ahead = first + step
        if "future_day_of_week" in names:
            columns[f"future_day_of_week_{step + 1}"] = sessions.day_of_week.to_numpy()[ahead]
        if "future_month_end" in names:
            columns[f"future_month_end_{step + 1}"] = last_of_month[ahead]
    if "sessions_to_holiday" in names:
        columns["sessions_to_holiday"] = _sessions_to_holiday(dates, sessions, first)
    ordered = {
        column: columns[column] for column in covariate_columns(names, horizon) if column in columns
    }
    return pd.DataFrame(ordered, index=dates).astype("float64")


def _sessions_to_holiday(
    dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex, first: np.ndarray
) -> np.ndarray:
    weekdays = pd.bdate_range(sessions[0], sessions[-1])
    holidays = weekdays[~weekdays.isin(sessions)]
    if not len(holidays):
        return np.full(len(dates), float(HOLIDAY_CAP))
    following = holidays.searchsorted(dates, side="right")
    known = following < len(holidays)
    counts = np.full(len(dates), float(HOLIDAY_CAP))
    holiday_position = sessions.searchsorted(holidays[following[known]])
    counts[known] = np.minimum(holiday_position - first[known], HOLIDAY_CAP)
    return counts
