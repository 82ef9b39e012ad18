"""The Forecast page's tickers: every bundled or cached series, and warnings about them.

Plain functions, no Streamlit and no Keras, like :mod:`fincast.dashboard.content`. A
model may forecast any series with the columns it was trained on; the page says so
when the ticker is not one the model was trained on, and when the series ends more
than :data:`STALE_SESSIONS` exchange sessions before today.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from fincast.dashboard.content import TickerChoice
from fincast.data.calendars import DEFAULT_CALENDAR, calendar_for, sessions_between
from fincast.data.sources import MarketDataError

STALE_SESSIONS = 5
BUNDLED = "sample"
CACHED = "yfinance"


def forecast_choices(
    card: Mapping[str, Any], cached: Sequence[str], bundled: Sequence[str]
) -> list[TickerChoice]:
    """The model's own tickers (from its data source), then cached, then bundled tickers.

    Each ticker appears once: from the model's source when it was trained on it, else
    from the Yahoo cache (fresher) when cached, else from the bundled sample.

    >>> card = {"data_source": "sample", "tickers": ["^GSPC"]}
    >>> [(c.ticker, c.source) for c in forecast_choices(card, ["AAPL"], ["^GSPC", "^IXIC"])]
    [('^GSPC', 'sample'), ('AAPL', 'yfinance'), ('^IXIC', 'sample')]
    """
    source = str(card.get("data_source", BUNDLED))
    options = dict(card.get("data_options") or {})
    if source == CACHED:
        options["refresh"] = "never"
    choices = [TickerChoice(str(name), source, options) for name in card.get("tickers", [])]
    choices += [TickerChoice(name, CACHED, {"refresh": "never"}) for name in cached]
    choices += [TickerChoice(name, BUNDLED, {}) for name in bundled]
    first: dict[str, TickerChoice] = {}
    for choice in choices:
        first.setdefault(choice.ticker, choice)
    return list(first.values())


def choice_label(choice: TickerChoice, card: Mapping[str, Any]) -> str:
    """What the ticker picker shows: the ticker, where its data comes from if not the model's.

    >>> card = {"data_source": "sample", "tickers": ["^GSPC"]}
    >>> choice_label(TickerChoice("^IXIC", "sample"), card)
    '^IXIC (bundled)'
    >>> choice_label(TickerChoice("^GSPC", "sample"), card)
    '^GSPC'
    """
    if choice.ticker in trained_tickers(card):
        return choice.label
    return f"{choice.ticker} ({'cached' if choice.source == CACHED else 'bundled'})"


def trained_tickers(card: Mapping[str, Any]) -> list[str]:
    """The tickers a model card says the model was trained on."""
    return [str(name) for name in card.get("tickers", [])]


def untrained_warning(card: Mapping[str, Any], ticker: str) -> str | None:
    """A warning when the model was not trained on ``ticker`` (``None`` when it was).

    >>> untrained_warning({"tickers": ["^GSPC"]}, "^IXIC")[:47]
    'This model was not trained on ^IXIC (it was tra'
    >>> untrained_warning({"tickers": ["^GSPC"]}, "^GSPC") is None
    True
    """
    trained = trained_tickers(card)
    if ticker in trained:
        return None
    names = ", ".join(trained) or "no recorded tickers"
    return (
        f"This model was not trained on {ticker} (it was trained on {names}): the forecast "
        "applies what it learned from other series, and its held-out scores do not cover "
        f"{ticker}."
    )


def sessions_after(last: date, today: date, calendar: str | None) -> int:
    """Completed exchange sessions after ``last`` and before ``today`` (business days if none).

    >>> sessions_after(date(2018, 12, 28), date(2019, 1, 3), "XNYS")  # 31 Dec and 2 Jan
    2
    """
    start = pd.Timestamp(last) + pd.Timedelta(days=1)
    end = pd.Timestamp(today) - pd.Timedelta(days=1)
    if end < start:
        return 0
    if calendar:
        try:
            return len(sessions_between(calendar, start, end))
        except MarketDataError:  # a calendar that does not cover the dates: weekdays instead
            pass
    return len(pd.bdate_range(start, end))


def staleness_warning(
    bars: pd.DataFrame,
    ticker: str,
    card: Mapping[str, Any],
    today: date | None = None,
    limit: int = STALE_SESSIONS,
) -> str | None:
    """A warning when ``bars`` end more than ``limit`` sessions before ``today``.

    Sessions come from the ticker's exchange calendar (the card's, else XNYS).
    """
    if bars.empty:
        return None
    today = today or date.today()
    last = pd.Timestamp(bars.index[-1]).date()
    calendar = calendar_for(ticker, card.get("calendar", DEFAULT_CALENDAR), card.get("calendars"))
    missed = sessions_after(last, today, calendar)
    if missed <= limit:
        return None
    days = (today - last).days
    return (
        f"The {ticker} data ends on {last.isoformat()}, {missed:,} trading sessions "
        f"({days:,} calendar days) before today: the forecast starts from that date, not "
        "from today. Refresh the ticker on the Data page for a current forecast."
    )
