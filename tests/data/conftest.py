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


def yf_frame(bars: pd.DataFrame, ticker: str, *, auto_adjust: bool = False) -> pd.DataFrame:
    """fincast bars in the shape of yfinance 1.7's ``download`` for one ticker.

    ``auto_adjust=True`` scales OHLC by ``adj_close / close`` and drops ``Adj Close``,
    as Yahoo does; otherwise ``Adj Close`` comes first (columns sorted by name).
    """
    factor = bars["adj_close"] / bars["close"] if auto_adjust else 1.0
    data = {
        "Close": bars["close"] * factor,
        "High": bars["high"] * factor,
        "Low": bars["low"] * factor,
        "Open": bars["open"] * factor,
        "Volume": bars["volume"].astype("int64"),
    }
    if not auto_adjust and "adj_close" in bars:
        data = {"Adj Close": bars["adj_close"], **data}
    frame = pd.DataFrame(data)
    frame.index = pd.DatetimeIndex(bars.index.to_numpy(), name="Date")
    frame.columns = pd.MultiIndex.from_tuples(
        [(column, ticker) for column in frame.columns], names=["Price", "Ticker"]
    )
    return frame


class FakeYahoo:
    """Stands in for ``yfinance.download``, recording every call.

    A reply per ticker is one of: fincast bars (a "Yahoo history": served from
    ``start`` to ``end`` in yfinance's shape, adjusted as asked), a ready frame
    (returned as is), an exception (raised), or a list of those used one per call
    (the last one repeats).
    """

    def __init__(self, replies: dict[str, object]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, dict]] = []

    @property
    def tickers(self) -> list[str]:
        return [ticker for ticker, _ in self.calls]

    def __call__(self, ticker: str, **kwargs):
        self.calls.append((ticker, kwargs))
        reply = self.replies[ticker]
        if isinstance(reply, list):
            reply = reply.pop(0) if len(reply) > 1 else reply[0]
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, pd.DataFrame) and not isinstance(reply.columns, pd.MultiIndex):
            index = reply.index
            mask = np.ones(len(reply), dtype=bool)
            if kwargs.get("start"):
                mask &= index >= pd.Timestamp(kwargs["start"])
            if kwargs.get("end"):
                mask &= index < pd.Timestamp(kwargs["end"])
            return yf_frame(reply[mask], ticker, auto_adjust=kwargs.get("auto_adjust", True))
        return reply


def no_sleep(seconds: float) -> None:
    """Retries in tests wait for nothing."""


@pytest.fixture
def fake_yahoo() -> type[FakeYahoo]:
    return FakeYahoo
