"""load_bars: one call for validated bars, with a yfinance cache that survives failures."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from curl_cffi.requests.exceptions import DNSError

from fincast.data import cache
from fincast.data.loading import load_bars
from fincast.data.sources import MarketDataError, MarketDataUnavailable


class FakeDownload:
    """Stands in for ``yfinance.download``; fails loudly for tickers it was not given."""

    def __init__(self, replies: dict[str, object]) -> None:
        self.replies = replies
        self.calls: list[str] = []

    def __call__(self, ticker: str, **kwargs):
        self.calls.append(ticker)
        reply = self.replies[ticker]
        if isinstance(reply, BaseException):
            raise reply
        return reply


def test_sample_source_is_validated() -> None:
    bars = load_bars("sample", ["^GSPC"])
    assert list(bars) == ["^GSPC"]
    assert len(bars["^GSPC"]) == 5031


def test_unknown_source() -> None:
    with pytest.raises(MarketDataError, match=r"'sql'.*sample, yfinance, csv, parquet"):
        load_bars("sql", ["X"])


def test_csv_source_with_path_option(tmp_path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n2024-01-02,10,12,9,11,1000\n2024-01-03,11,13,10,12,2000\n"
    )
    bars = load_bars("csv", ["MINE"], options={"path": str(path)})
    assert list(bars) == ["MINE"]
    assert bars["MINE"]["close"].tolist() == [11.0, 12.0]


def test_csv_source_rejects_invalid_bars(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-02,10,12,9,11,1000\n2024-01-03,11,13,10,-12,2000\n"
    )
    with pytest.raises(MarketDataError, match=r"BAD: non-positive price.*2024-01-03"):
        load_bars("csv", ["BAD"], options={"path": str(path)})


def test_yfinance_fetches_and_caches(tmp_path, make_yf_download) -> None:
    download = FakeDownload({"AAPL": make_yf_download("AAPL", rows=6, auto_adjust=False)})
    bars = load_bars(
        "yfinance",
        ["AAPL"],
        cache_dir=tmp_path,
        options={"download": download, "start": "2024-01-01"},
    )
    assert download.calls == ["AAPL"]
    assert len(bars["AAPL"]) == 6
    cached = cache.read_bars(tmp_path, "AAPL")
    assert cached is not None
    pd.testing.assert_frame_equal(cached, bars["AAPL"], check_freq=False, check_names=False)
    assert cache.read_metadata(tmp_path, "AAPL")["source"] == "yfinance"


def test_yfinance_serves_cached_ticker_without_downloading(tmp_path, make_bars) -> None:
    stored = make_bars(8)
    cache.write_bars(tmp_path, "^GSPC", stored, source="yfinance")
    download = FakeDownload({})  # any call would raise KeyError
    bars = load_bars("yfinance", ["^GSPC"], cache_dir=tmp_path, options={"download": download})
    assert download.calls == []
    pd.testing.assert_frame_equal(bars["^GSPC"], stored, check_freq=False)


def test_yfinance_fetches_only_uncached(tmp_path, make_bars, make_yf_download) -> None:
    cache.write_bars(tmp_path, "OLD", make_bars(5), source="yfinance")
    download = FakeDownload({"NEW": make_yf_download("NEW", rows=4)})
    bars = load_bars("yfinance", ["OLD", "NEW"], cache_dir=tmp_path, options={"download": download})
    assert download.calls == ["NEW"]
    assert list(bars) == ["OLD", "NEW"]
    assert cache.read_bars(tmp_path, "NEW") is not None


def test_refresh_replaces_cache_with_new_download(tmp_path, make_bars, make_yf_download) -> None:
    cache.write_bars(tmp_path, "AAPL", make_bars(3), source="yfinance")
    download = FakeDownload({"AAPL": make_yf_download("AAPL", rows=7)})
    bars = load_bars(
        "yfinance", ["AAPL"], cache_dir=tmp_path, refresh=True, options={"download": download}
    )
    assert download.calls == ["AAPL"]
    assert len(bars["AAPL"]) == 7
    assert len(cache.read_bars(tmp_path, "AAPL")) == 7


@pytest.mark.parametrize("failure", ["empty", "raises"])
def test_failed_refresh_keeps_cache_bytes_and_serves_cached(
    tmp_path, make_bars, make_yf_empty, caplog, failure: str
) -> None:
    stored = make_bars(9)
    path = cache.write_bars(tmp_path, "AAPL", stored, source="yfinance")
    before = path.read_bytes()
    reply = make_yf_empty("AAPL") if failure == "empty" else DNSError("Could not resolve host")
    download = FakeDownload({"AAPL": reply})
    with caplog.at_level(logging.WARNING, logger="fincast.data.loading"):
        bars = load_bars(
            "yfinance", ["AAPL"], cache_dir=tmp_path, refresh=True, options={"download": download}
        )
    assert download.calls == ["AAPL"]
    assert path.read_bytes() == before
    pd.testing.assert_frame_equal(bars["AAPL"], stored, check_freq=False)
    warnings = [
        record.getMessage() for record in caplog.records if record.name == "fincast.data.loading"
    ]
    assert any(
        "AAPL" in message and str(stored.index[-1].date()) in message for message in warnings
    )
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("failure", ["empty", "raises"])
def test_uncached_failure_raises_unavailable(tmp_path, make_yf_empty, failure: str) -> None:
    reply = make_yf_empty("NOPE") if failure == "empty" else DNSError("Could not resolve host")
    download = FakeDownload({"NOPE": reply})
    with pytest.raises(MarketDataUnavailable) as caught:
        load_bars("yfinance", ["NOPE"], cache_dir=tmp_path, options={"download": download})
    assert caught.value.ticker == "NOPE"
    assert "NOPE" in str(caught.value)
    assert cache.read_bars(tmp_path, "NOPE") is None


def test_batch_with_one_uncached_failure_raises_for_that_ticker(
    tmp_path, make_yf_download, make_yf_empty
) -> None:
    download = FakeDownload(
        {
            "AAPL": make_yf_download("AAPL"),
            "BAD": make_yf_empty("BAD"),
            "MSFT": make_yf_download("MSFT", seed=4),
        }
    )
    with pytest.raises(MarketDataUnavailable) as caught:
        load_bars(
            "yfinance", ["AAPL", "BAD", "MSFT"], cache_dir=tmp_path, options={"download": download}
        )
    assert caught.value.ticker == "BAD"
    # The good downloads were still cached, so a retry needs only the bad ticker.
    assert cache.read_bars(tmp_path, "AAPL") is not None
    assert cache.read_bars(tmp_path, "MSFT") is not None


def test_invalid_download_is_not_cached(tmp_path, make_yf_download) -> None:
    frame = make_yf_download("AAPL", rows=4)
    frame[("Low", "AAPL")] = frame[("High", "AAPL")] * 2  # low above high
    download = FakeDownload({"AAPL": frame})
    with pytest.raises(MarketDataError, match="AAPL: low above"):
        load_bars("yfinance", ["AAPL"], cache_dir=tmp_path, options={"download": download})
    assert cache.read_bars(tmp_path, "AAPL") is None
