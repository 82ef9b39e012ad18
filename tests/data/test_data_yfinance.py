"""yfinance 1.7 frames turned into bars, and fetching with an injected downloader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from curl_cffi.requests.exceptions import DNSError

from fincast.data.sources import (
    MarketDataUnavailable,
    fetch_yfinance,
    yfinance_frame_to_bars,
)
from fincast.data.validate import validate_bars

OHLCV = ["open", "high", "low", "close", "volume"]


@pytest.mark.parametrize("auto_adjust", [True, False])
def test_download_frame_becomes_bars(make_yf_download, auto_adjust: bool) -> None:
    frame = make_yf_download("AAPL", rows=5, auto_adjust=auto_adjust)
    assert frame.columns.names == ["Price", "Ticker"]
    bars = yfinance_frame_to_bars(frame, "AAPL")
    expected = ["open", "high", "low", "close", "adj_close", "volume"]
    if auto_adjust:
        expected.remove("adj_close")
    assert list(bars.columns) == expected
    assert bars.index.name == "date"
    assert bars.index.tz is None
    assert all(dtype == np.float64 for dtype in bars.dtypes)
    assert list(bars.index) == list(frame.index)
    for source, target in [
        ("Open", "open"),
        ("High", "high"),
        ("Low", "low"),
        ("Close", "close"),
        ("Volume", "volume"),
    ]:
        np.testing.assert_array_equal(bars[target].to_numpy(), frame[(source, "AAPL")].to_numpy())
    if not auto_adjust:
        np.testing.assert_array_equal(bars["adj_close"], frame[("Adj Close", "AAPL")])
    validate_bars(bars, "AAPL")


def test_download_frame_grouped_by_ticker(make_yf_download) -> None:
    """``group_by='ticker'`` puts the ticker on the first level."""
    frame = make_yf_download("MSFT", rows=4)
    swapped = frame.swaplevel(0, 1, axis=1)
    pd.testing.assert_frame_equal(
        yfinance_frame_to_bars(swapped, "MSFT"), yfinance_frame_to_bars(frame, "MSFT")
    )


def test_download_frame_is_sorted_by_date(make_yf_download) -> None:
    frame = make_yf_download(rows=6).iloc[::-1]
    bars = yfinance_frame_to_bars(frame, "AAPL")
    assert bars.index.is_monotonic_increasing


def test_history_frame_with_new_york_timezone(make_bars) -> None:
    """``Ticker.history``: single-level columns, extra columns, tz-aware midnight index."""
    bars = make_bars(5, adj_close=False)
    history = pd.DataFrame(
        {
            "Open": bars["open"].to_numpy(),
            "High": bars["high"].to_numpy(),
            "Low": bars["low"].to_numpy(),
            "Close": bars["close"].to_numpy(),
            "Volume": bars["volume"].astype("int64").to_numpy(),
            "Dividends": 0.0,
            "Stock Splits": 0.0,
        },
        index=pd.DatetimeIndex(bars.index.tz_localize("America/New_York"), name="Date"),
    )
    result = yfinance_frame_to_bars(history, "AAPL")
    assert result.index.tz is None
    # The exchange's calendar day is kept, not shifted to the UTC day.
    assert list(result.index) == list(bars.index)
    assert list(result.columns) == OHLCV
    np.testing.assert_array_equal(result.to_numpy(), bars[OHLCV].to_numpy())


def test_intraday_timestamps_normalised_to_days(make_yf_download) -> None:
    frame = make_yf_download(rows=3)
    frame.index = pd.DatetimeIndex(
        (frame.index + pd.Timedelta(hours=16)).tz_localize("America/New_York"), name="Date"
    )
    result = yfinance_frame_to_bars(frame, "AAPL")
    assert list(result.index) == list(pd.bdate_range("2024-01-02", periods=3))


class FakeDownload:
    """Stands in for ``yfinance.download``: a reply (frame or exception) per ticker."""

    def __init__(self, replies: dict[str, object]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, ticker: str, **kwargs):
        self.calls.append((ticker, kwargs))
        reply = self.replies[ticker]
        if isinstance(reply, BaseException):
            raise reply
        return reply


def test_fetch_good_frames_and_forwarded_arguments(make_yf_download) -> None:
    download = FakeDownload(
        {
            "AAPL": make_yf_download("AAPL", auto_adjust=False),
            "MSFT": make_yf_download("MSFT", auto_adjust=False, seed=7),
        }
    )
    results, failures = fetch_yfinance(
        ["AAPL", "MSFT"], start="2024-01-01", end="2024-02-01", download=download
    )
    assert failures == []
    assert list(results) == ["AAPL", "MSFT"]
    assert "adj_close" in results["AAPL"].columns
    assert not results["AAPL"].equals(results["MSFT"])
    assert [ticker for ticker, _ in download.calls] == ["AAPL", "MSFT"]
    _, kwargs = download.calls[0]
    assert kwargs["start"] == "2024-01-01" and kwargs["end"] == "2024-02-01"
    assert kwargs["interval"] == "1d"
    assert kwargs["auto_adjust"] is False
    assert kwargs["progress"] is False


def test_fetch_empty_frame_is_a_failure(make_yf_empty) -> None:
    empty = make_yf_empty("ZZZZ")
    assert empty.shape == (0, 6)
    results, failures = fetch_yfinance(["ZZZZ"], download=FakeDownload({"ZZZZ": empty}))
    assert results == {}
    assert len(failures) == 1
    failure = failures[0]
    assert isinstance(failure, MarketDataUnavailable)
    assert failure.ticker == "ZZZZ"
    assert "no rows" in failure.cause
    assert "data=sample" in failure.advice
    assert "ZZZZ" in str(failure) and failure.advice in str(failure)


def test_fetch_none_is_a_failure() -> None:
    results, failures = fetch_yfinance(["X"], download=FakeDownload({"X": None}))
    assert results == {}
    assert [failure.ticker for failure in failures] == ["X"]


def test_fetch_network_error_is_a_failure() -> None:
    error = DNSError("curl: (6) Could not resolve host: query2.finance.yahoo.com")
    assert isinstance(error, OSError)
    results, failures = fetch_yfinance(["AAPL"], download=FakeDownload({"AAPL": error}))
    assert results == {}
    (failure,) = failures
    assert failure.ticker == "AAPL"
    assert "DNSError" in failure.cause and "Could not resolve host" in failure.cause
    assert "network" in failure.advice
    assert "AAPL" in str(failure)


@pytest.mark.parametrize("bad", ["empty", "raises"])
def test_one_bad_ticker_does_not_stop_the_batch(make_yf_download, make_yf_empty, bad) -> None:
    reply = make_yf_empty("BAD") if bad == "empty" else DNSError("Could not resolve host")
    download = FakeDownload(
        {
            "AAPL": make_yf_download("AAPL"),
            "BAD": reply,
            "MSFT": make_yf_download("MSFT", seed=3),
        }
    )
    results, failures = fetch_yfinance(["AAPL", "BAD", "MSFT"], download=download)
    assert list(results) == ["AAPL", "MSFT"]
    assert [failure.ticker for failure in failures] == ["BAD"]
    assert [ticker for ticker, _ in download.calls] == ["AAPL", "BAD", "MSFT"]


def test_fetch_logs_each_failure(make_yf_empty, caplog) -> None:
    with caplog.at_level("ERROR", logger="fincast.data.sources"):
        fetch_yfinance(
            ["A", "B"],
            download=FakeDownload(
                {
                    "A": make_yf_empty("A"),
                    "B": DNSError("offline"),
                }
            ),
        )
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "'A'" in messages[0] and "'B'" in messages[1]
