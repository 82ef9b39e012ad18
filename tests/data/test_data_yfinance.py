"""yfinance 1.7 frames turned into bars, and fetching with an injected downloader.

No test needs the network: ``download`` stands in for ``yfinance.download`` and
returns frames shaped exactly like yfinance 1.7's, or raises its exceptions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from curl_cffi.requests.exceptions import DNSError

from fincast.data.retry import RetryPolicy
from fincast.data.sources import MarketDataError, MarketDataUnavailable
from fincast.data.validate import validate_bars
from fincast.data.yahoo import (
    YahooClient,
    YahooRequest,
    check_interval,
    fetch_yfinance,
    yfinance_frame_to_bars,
)


def no_sleep(seconds: float) -> None:
    """Retries wait for nothing in tests."""


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
        ["AAPL", "MSFT"], start="2024-01-01", end="2024-02-01", download=download, sleep=no_sleep
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
    results, failures = fetch_yfinance(
        ["ZZZZ"], download=FakeDownload({"ZZZZ": empty}), sleep=no_sleep
    )
    assert results == {}
    assert len(failures) == 1
    failure = failures[0]
    assert isinstance(failure, MarketDataUnavailable)
    assert failure.ticker == "ZZZZ"
    assert "no rows" in failure.cause
    assert "data=sample" in failure.advice
    assert "ZZZZ" in str(failure) and failure.advice in str(failure)


def test_fetch_none_is_a_failure() -> None:
    results, failures = fetch_yfinance(["X"], download=FakeDownload({"X": None}), sleep=no_sleep)
    assert results == {}
    assert [failure.ticker for failure in failures] == ["X"]


def test_fetch_network_error_is_a_failure() -> None:
    error = DNSError("curl: (6) Could not resolve host: query2.finance.yahoo.com")
    assert isinstance(error, OSError)
    results, failures = fetch_yfinance(
        ["AAPL"], download=FakeDownload({"AAPL": error}), sleep=no_sleep
    )
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
    results, failures = fetch_yfinance(["AAPL", "BAD", "MSFT"], download=download, sleep=no_sleep)
    assert list(results) == ["AAPL", "MSFT"]
    assert [failure.ticker for failure in failures] == ["BAD"]
    # BAD is tried more than once (retries), the others once each, in order
    tickers = [ticker for ticker, _ in download.calls]
    assert tickers[0] == "AAPL" and tickers[-1] == "MSFT"
    assert set(tickers[1:-1]) == {"BAD"}


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
            sleep=no_sleep,
        )
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "'A'" in messages[0] and "'B'" in messages[1]


# --- retries, failure kinds and messages -------------------------------------------


class Sleeps(list):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(download, sleeps=None, **retry) -> YahooClient:
    request = YahooRequest(retry=RetryPolicy(**retry))
    return YahooClient(request, download=download, sleep=sleeps if sleeps is not None else no_sleep)


def test_rate_limit_is_retried_with_bounded_jittered_waits(fake_yahoo, make_bars) -> None:
    from yfinance.exceptions import YFRateLimitError

    history = make_bars(6)
    download = fake_yahoo({"AAPL": [YFRateLimitError(), YFRateLimitError(), history]})
    sleeps = Sleeps()
    reply = client(download, sleeps, tries=4, base_delay=1.0, max_delay=30.0).fetch("AAPL")
    assert reply.kind == "ok" and len(reply.bars) == 6
    assert download.tickers == ["AAPL"] * 3
    assert len(sleeps) == 2
    assert 0.0 <= sleeps[0] <= 1.0 and 0.0 <= sleeps[1] <= 2.0


def test_rate_limit_gives_up_after_tries_with_clear_advice(fake_yahoo) -> None:
    from yfinance.exceptions import YFRateLimitError

    download = fake_yahoo({"AAPL": YFRateLimitError()})
    reply = client(download, tries=3).fetch("AAPL")
    assert download.tickers == ["AAPL"] * 3
    failure = reply.failure()
    assert failure.kind == "rate_limit"
    assert "rate limited" in failure.cause and "Too Many Requests" in failure.cause
    assert "retry in a few minutes" in failure.advice and "data=sample" in failure.advice
    assert "\n" not in str(failure)


def test_empty_frame_is_retried_once_by_default(fake_yahoo, make_yf_empty) -> None:
    download = fake_yahoo({"NOPE": make_yf_empty("NOPE")})
    reply = client(download, tries=4).fetch("NOPE")
    assert download.tickers == ["NOPE", "NOPE"]
    assert reply.kind == "empty"
    assert "Check the symbol" in reply.failure().advice


def test_empty_frame_retries_can_be_switched_off(fake_yahoo, make_yf_empty) -> None:
    download = fake_yahoo({"NOPE": make_yf_empty("NOPE")})
    client(download, tries=4, empty_retries=0).fetch("NOPE")
    assert download.tickers == ["NOPE"]


def test_unexpected_error_is_not_retried(fake_yahoo) -> None:
    from yfinance.exceptions import YFTickerMissingError

    download = fake_yahoo({"X": YFTickerMissingError("X", "no timezone found")})
    reply = client(download, tries=4).fetch("X")
    assert download.tickers == ["X"]
    assert reply.kind == "error" and "YFTickerMissingError" in reply.cause


class HTTPStatusError(OSError):
    """Like requests' and curl_cffi's HTTPError: carries ``response.status_code``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP Error {status}")
        self.response = type("Response", (), {"status_code": status})()


@pytest.mark.parametrize(
    ("status", "kind", "calls"), [(429, "rate_limit", 3), (503, "network", 3), (404, "error", 1)]
)
def test_http_status_decides_the_retry(fake_yahoo, status: int, kind: str, calls: int) -> None:
    download = fake_yahoo({"A": HTTPStatusError(status)})
    reply = client(download, tries=3).fetch("A")
    assert reply.kind == kind
    assert len(download.calls) == calls


def test_total_timeout_stops_retrying(fake_yahoo) -> None:
    download = fake_yahoo({"A": DNSError("Could not resolve host")})
    sleeps = Sleeps()
    client(download, sleeps, tries=10, base_delay=1.0, total_timeout=0.0).fetch("A")
    assert download.tickers == ["A"] and sleeps == []


def test_yfinance_log_lines_become_the_cause_and_are_not_printed(
    fake_yahoo, make_yf_empty, caplog
) -> None:
    """yfinance 1.7 offline: an empty frame, the DNS failure only in its log."""
    import logging
    import warnings

    def offline_download(ticker: str, **kwargs):
        logging.getLogger("yfinance").error(
            "\n1 Failed download:\n['%s']: DNSError('Failed to perform, curl: (6) "
            "Could not resolve host: query2.finance.yahoo.com.')",
            ticker,
        )
        warnings.warn("inplace is deprecated", FutureWarning, stacklevel=1)
        return make_yf_empty(ticker)

    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reply = client(offline_download, tries=1).fetch("AAPL")
    assert reply.kind == "network"
    assert reply.cause.startswith("no network: cannot reach Yahoo Finance (DNSError")
    assert "Could not resolve host" in reply.cause
    assert "network" in reply.failure().advice
    assert not [record for record in caplog.records if record.name == "yfinance"]
    assert not caught
    assert logging.getLogger("yfinance").propagate is True


def test_network_down_stops_retries_for_the_remaining_tickers(fake_yahoo) -> None:
    error = DNSError("Could not resolve host")
    download = fake_yahoo({"A": error, "B": error, "C": error})
    results, failures = fetch_yfinance(
        ["A", "B", "C"], download=download, sleep=no_sleep, retry={"tries": 3}
    )
    assert results == {}
    assert [failure.ticker for failure in failures] == ["A", "B", "C"]
    assert download.tickers == ["A", "A", "A", "B", "C"]


def test_auto_adjust_true_is_passed_explicitly(fake_yahoo, make_bars) -> None:
    download = fake_yahoo({"A": make_bars(4)})
    results, _ = fetch_yfinance(["A"], download=download, auto_adjust=True, sleep=no_sleep)
    assert download.calls[0][1]["auto_adjust"] is True
    assert "adj_close" not in results["A"].columns


# --- request options -----------------------------------------------------------------


@pytest.mark.parametrize("interval", ["1d", "5d", "1wk", "1mo", "3mo"])
def test_daily_or_longer_intervals_are_accepted(interval: str) -> None:
    assert check_interval(interval) == interval


def test_intraday_interval_is_refused_with_the_alternatives() -> None:
    with pytest.raises(MarketDataError, match=r"interval='1h' is intraday.*1d, 5d, 1wk"):
        check_interval("1h")


def test_unknown_interval_is_refused() -> None:
    with pytest.raises(MarketDataError, match=r"Unknown data.options.interval='daily'"):
        YahooRequest.from_options({"interval": "daily"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auto_adjust": "yes"}, r"auto_adjust must be true or false. Received: 'yes'"),
        ({"start": "2020-13-45"}, r"data.options.start='2020-13-45' is not a date"),
        ({"start": "2024-01-01", "end": "2023-01-01"}, r"start=2024-01-01 must be before"),
        ({"retry": {"tries": 0}}, r"tries must be at least 1. Received: tries=0"),
        ({"retry": {"attempts": 3}}, r"unknown option 'attempts'"),
        ({"period": "1y"}, r"Unknown yfinance option\(s\) period"),
    ],
)
def test_bad_request_options_are_named(options: dict, message: str) -> None:
    with pytest.raises(MarketDataError, match=message):
        YahooRequest.from_options(options)


def test_request_from_options_reads_everything() -> None:
    request = YahooRequest.from_options(
        {
            "start": "2010-01-01",
            "end": "2020-06-30",
            "interval": "1wk",
            "auto_adjust": True,
            "retry": {"tries": 2, "base_delay": 0.5},
        }
    )
    assert (request.start, request.end, request.interval) == ("2010-01-01", "2020-06-30", "1wk")
    assert request.auto_adjust is True
    assert request.retry == RetryPolicy(tries=2, base_delay=0.5)


# --- frame shapes and the timezone policy --------------------------------------------


def test_lower_case_request_matches_upper_case_columns(make_yf_download) -> None:
    frame = make_yf_download("AAPL", rows=3)
    bars = yfinance_frame_to_bars(frame, "aapl")
    assert len(bars) == 3 and list(bars.columns)[:4] == ["open", "high", "low", "close"]


def test_duplicate_session_keeps_the_last_bar(make_yf_download) -> None:
    """A live bar stamped during the session duplicates the day's date: keep the last."""
    frame = make_yf_download("AAPL", rows=3)
    live = frame.iloc[[-1]].copy()
    live.index = pd.DatetimeIndex([frame.index[-1] + pd.Timedelta(hours=15)], name="Date")
    live[("Close", "AAPL")] = 123.0
    bars = yfinance_frame_to_bars(pd.concat([frame, live]), "AAPL")
    assert len(bars) == 3 and bars["close"].iloc[-1] == 123.0


def test_asian_exchange_keeps_its_local_session_date(make_bars) -> None:
    """Tokyo's 2024-01-04 session is 2024-01-03 15:00 UTC: it must stay on 2024-01-04."""
    bars = make_bars(3, start="2024-01-04", adj_close=False)
    history = pd.DataFrame(
        {column.title(): bars[column].to_numpy() for column in OHLCV},
        index=pd.DatetimeIndex(bars.index.tz_localize("Asia/Tokyo"), name="Date"),
    )
    result = yfinance_frame_to_bars(history, "7203.T")
    assert list(result.index) == list(bars.index)
    assert str(result.index[0].date()) == "2024-01-04"
