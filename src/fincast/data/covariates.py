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
the calendar alone, which is known in advance:

- ``future_day_of_week``: the weekday (0 = Monday) of each of the next sessions, one
  column per step (``future_day_of_week_1`` .. ``_<horizon>``);
- ``future_month_end``: 1.0 where that session is its month's last, one column per step;
- ``sessions_to_holiday``: sessions after day t before the next weekday the exchange
  is closed (capped at :data:`HOLIDAY_CAP`).

:class:`FeatureRecipe` is the one place a model's input columns are built, from a job
when training and backtesting, and from the model card when forecasting and serving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fincast.data.calendars import calendar_for, sessions_between
from fincast.data.features import log_return, make_features
from fincast.data.sources import MarketDataError

PAST = ("market_return", "sector_return")
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
    if calendar:
        sessions = sessions_between(calendar, dates.min(), end)
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


@dataclass(frozen=True)
class FeatureRecipe:
    """How a model's input columns are built: features, then covariates.

    ``universe`` is the tickers whose returns the past covariates average, and
    ``sectors`` their sectors; both are recorded on the model card, so a forecast
    rebuilds the same columns from the same universe.
    """

    names: list[str]
    price: str = "adj_close"
    covariates: list[str] = field(default_factory=list)
    horizon: int = 1
    universe: list[str] = field(default_factory=list)
    sectors: dict[str, str] = field(default_factory=dict)
    calendar: str | None = "XNYS"
    calendars: dict[str, str] = field(default_factory=dict)
    # identity columns (ticker, sector: for embeddings, per-ticker normalisation): ids
    # from 1 in sorted vocabularies
    identities: list[str] = field(default_factory=list)
    vocabularies: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_covariates(self.covariates)
        check_embeddings(self.identities)

    @property
    def columns(self) -> list[str]:
        """Every input column, in the model's order."""
        return model_columns(self.names, self.covariates, self.identities, self.horizon)

    def identity_of(self, ticker: str) -> dict[str, float]:
        """The identity columns of ``ticker``: 1-based ids, 0 where the model never saw it."""
        keys = {"ticker": ticker, "sector": self.sectors.get(ticker, "")}
        ids = {}
        for name in self.identities:
            vocabulary = self.vocabularies.get(name, [])
            key = keys[name]
            ids[f"{name}_id"] = float(vocabulary.index(key) + 1) if key in vocabulary else 0.0
        return ids

    @property
    def needs_universe(self) -> bool:
        """True when a ticker's inputs depend on other tickers' bars."""
        return any(name in PAST for name in self.covariates)

    def card(self) -> dict[str, Any]:
        """The entries a model card records to rebuild these columns."""
        return {
            "covariates": list(self.covariates),
            "input_columns": self.columns,
            "covariate_universe": list(self.universe) if self.needs_universe else [],
            "sectors": dict(self.sectors),
            "identities": list(self.identities),
            "vocabularies": {name: list(self.vocabularies[name]) for name in self.identities},
        }

    @classmethod
    def of_card(cls, card: Mapping[str, Any]) -> FeatureRecipe:
        """The recipe a model card records (cards without covariates: features only)."""
        return cls(
            names=list(card["features"]),
            price=str(card.get("price", "adj_close")),
            covariates=list(card.get("covariates") or []),
            horizon=int(card.get("horizon", 1)),
            universe=list(card.get("covariate_universe") or []),
            sectors=dict(card.get("sectors") or {}),
            calendar=card.get("calendar", "XNYS"),
            calendars=dict(card.get("calendars") or {}),
            identities=list(card.get("identities") or []),
            vocabularies=dict(card.get("vocabularies") or {}),
        )

    def frames(
        self, bars: Mapping[str, pd.DataFrame], tickers: Sequence[str] | None = None
    ) -> dict[str, pd.DataFrame]:
        """Input columns of each of ``tickers`` (default: every ticker of ``bars``).

        Raises:
            MarketDataError: past covariates whose universe's bars are not all in ``bars``.
        """
        wanted = list(bars) if tickers is None else list(tickers)
        returns = self._returns(bars)
        frames = {}
        for ticker in wanted:
            features = make_features(bars[ticker], self.names, price=self.price)
            if self.covariates:
                features = self._with_covariates(features, ticker, returns)
            if self.identities:
                features = features.assign(**self.identity_of(ticker)).astype("float32")
            frames[ticker] = features
        return frames

    def _returns(self, bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
        if not self.needs_universe:
            return None
        missing = [ticker for ticker in self.universe if ticker not in bars]
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            past = ", ".join(name for name in self.covariates if name in PAST)
            raise MarketDataError(
                f"The model's past covariates ({past}) "
                f"average {len(self.universe)} tickers, and the bars of {shown} are missing; "
                "load the model's whole universe (its card's covariate_universe)."
            )
        return universe_returns({ticker: bars[ticker] for ticker in self.universe}, self.price)

    def _with_covariates(
        self, features: pd.DataFrame, ticker: str, returns: pd.DataFrame | None
    ) -> pd.DataFrame:
        parts = [features]
        if returns is not None:
            past = past_covariates(returns, ticker, self.covariates, self.sectors)
            parts.append(past.reindex(features.index))
        future = [name for name in self.covariates if name in FUTURE]
        if future:
            calendar = calendar_for(ticker, self.calendar, self.calendars)
            index = pd.DatetimeIndex(features.index)
            parts.append(future_covariates(index, future, self.horizon, calendar))
        combined = pd.concat(parts, axis=1)
        combined = combined[[column for column in self.columns if column in combined]]
        return combined.dropna().astype("float32")
