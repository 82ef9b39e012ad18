"""Checks that a ticker's daily bars are usable before anything is trained on them."""

from __future__ import annotations

import pandas as pd

from fincast.data.sources import REQUIRED_COLUMNS, MarketDataError


def validate_bars(bars: pd.DataFrame, ticker: str, *, min_rows: int = 2) -> pd.DataFrame:
    """Return ``bars`` if they are clean daily bars, else raise a precise error.

    Checks: required columns present, enough rows, dates unique and increasing,
    no missing prices, prices positive, ``low <= open, close <= high``, volume >= 0.

    Raises:
        MarketDataError: naming the ticker, the problem and the first offending date.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in bars.columns]
    if missing:
        raise MarketDataError(
            f"{ticker}: missing column(s) {', '.join(missing)}; found {', '.join(bars.columns)}."
        )
    if len(bars) < min_rows:
        raise MarketDataError(f"{ticker}: {len(bars)} rows, need at least {min_rows}.")
    index = bars.index
    duplicated = index[index.duplicated()]
    if len(duplicated):
        raise MarketDataError(f"{ticker}: duplicated date {duplicated[0].date()}.")
    if not index.is_monotonic_increasing:
        backwards = index[1:][index[1:] < index[:-1]]
        raise MarketDataError(
            f"{ticker}: dates are not in increasing order, first at {backwards[0].date()}."
        )
    prices = bars[["open", "high", "low", "close"]]
    _fail_where(prices.isna().any(axis=1), ticker, "missing price")
    _fail_where((prices <= 0).any(axis=1), ticker, "non-positive price")
    _fail_where(
        bars["low"] > bars[["open", "close", "high"]].min(axis=1),
        ticker,
        "low above open/close/high",
    )
    _fail_where(bars["high"] < bars[["open", "close"]].max(axis=1), ticker, "high below open/close")
    _fail_where(bars["volume"].isna(), ticker, "missing volume")
    _fail_where(bars["volume"] < 0, ticker, "negative volume")
    return bars


def _fail_where(mask: pd.Series, ticker: str, problem: str) -> None:
    if bool(mask.any()):
        dates = mask.index[mask.to_numpy()]
        raise MarketDataError(
            f"{ticker}: {problem} on {len(dates)} day(s), first on {dates[0].date()}."
        )
