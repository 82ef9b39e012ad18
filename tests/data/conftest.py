"""Builders of small, realistic market-data frames for the data tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

YF_COLUMNS = ("Close", "High", "Low", "Open", "Volume")  # yfinance 1.x sorts them


def build_bars(
    rows: int = 10, *, start: str = "2024-01-02", seed: int = 0, adj_close: bool = True
) -> pd.DataFrame:
    """Clean fincast bars: business days, positive prices, low <= open/close <= high."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, rows)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, rows))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    data = {"open": open_, "high": high, "low": low, "close": close}
    if adj_close:
        data["adj_close"] = close * 0.98
    data["volume"] = rng.integers(1_000_000, 2_000_000, rows).astype("float64")
    index = pd.bdate_range(start, periods=rows, name="date")
    return pd.DataFrame(data, index=pd.DatetimeIndex(index, name="date"))


def build_yf_download(
    ticker: str = "AAPL",
    *,
    rows: int = 5,
    auto_adjust: bool = True,
    start: str = "2024-01-02",
    seed: int = 1,
) -> pd.DataFrame:
    """A frame shaped like yfinance 1.7's ``yf.download(ticker, ...)`` for one ticker.

    Two-level columns ``(Price, Ticker)``, sorted by price name, ``Adj Close`` only
    without auto-adjust, integer volume, tz-naive index named ``Date``.
    """
    bars = build_bars(rows, start=start, seed=seed)
    data = {
        "Close": bars["close"],
        "High": bars["high"],
        "Low": bars["low"],
        "Open": bars["open"],
        "Volume": bars["volume"].astype("int64"),
    }
    if not auto_adjust:
        data = {"Adj Close": bars["adj_close"], **data}
    frame = pd.DataFrame(data)
    frame.index = pd.DatetimeIndex(bars.index.to_numpy(), name="Date")
    frame.columns = pd.MultiIndex.from_tuples(
        [(column, ticker) for column in frame.columns], names=["Price", "Ticker"]
    )
    return frame


def build_yf_empty(ticker: str = "AAPL") -> pd.DataFrame:
    """What yfinance 1.7's ``download`` returns offline or for an unknown symbol: (0, 6)."""
    columns = pd.MultiIndex.from_tuples(
        [(column, ticker) for column in ("Adj Close", *YF_COLUMNS)], names=["Price", "Ticker"]
    )
    return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"), dtype="float64")


@pytest.fixture
def make_bars() -> Callable[..., pd.DataFrame]:
    return build_bars


@pytest.fixture
def make_yf_download() -> Callable[..., pd.DataFrame]:
    return build_yf_download


@pytest.fixture
def make_yf_empty() -> Callable[..., pd.DataFrame]:
    return build_yf_empty
