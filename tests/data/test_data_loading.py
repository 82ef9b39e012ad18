"""load_bars: one call for validated bars, with a yfinance cache that survives failures.

The yfinance tests go through the whole path (plan, fetch with retries, merge,
validate, crash-safe write) with real Parquet files; ``FakeYahoo`` stands in for
``yfinance.download`` and serves a "Yahoo history" in yfinance 1.7's shape.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd
import pytest
from curl_cffi.requests.exceptions import DNSError

from fincast.data import cache
from fincast.data.loading import load_bars
from fincast.data.sources import MarketDataError, MarketDataUnavailable
from fincast.data.sync import sync_yfinance


def no_sleep(seconds: float) -> None:
    """Retries wait for nothing in tests."""


def yahoo_options(download, **options) -> dict:
    return {"download": download, "sleep": no_sleep, **options}


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


def load(tmp_path, download, tickers=("AAPL",), refresh="missing", **options):
    return load_bars(
        "yfinance",
        list(tickers),
        cache_dir=tmp_path,
        refresh=refresh,
        options=yahoo_options(download, **options),
    )


def test_yfinance_fetches_and_caches_with_metadata(tmp_path, fake_yahoo, make_bars) -> None:
    download = fake_yahoo({"AAPL": make_bars(6)})
    bars = load(tmp_path, download, start="2024-01-01")
    assert download.tickers == ["AAPL"]
    _, kwargs = download.calls[0]
    assert kwargs["start"] == "2024-01-01" and kwargs["auto_adjust"] is False
    assert len(bars["AAPL"]) == 6
    cached = cache.read_bars(tmp_path, "AAPL")
    pd.testing.assert_frame_equal(cached, bars["AAPL"], check_freq=False)
    metadata = cache.read_metadata(tmp_path, "AAPL")
    assert metadata["source"] == "yfinance"
    assert metadata["auto_adjust"] is False and metadata["interval"] == "1d"
    assert metadata["covered_from"] == "2024-01-01"
    assert {"yfinance", "pandas", "fincast"} <= set(metadata["versions"])


def test_never_serves_the_cache_without_downloading(tmp_path, fake_yahoo, make_bars) -> None:
    stored = make_bars(8)
    cache.write_bars(tmp_path, "^GSPC", stored, source="yfinance")
    download = fake_yahoo({})  # any call would raise KeyError
    bars = load(tmp_path, download, tickers=["^GSPC"], refresh="never")
    assert download.calls == []
    pd.testing.assert_frame_equal(bars["^GSPC"], stored, check_freq=False)


def test_never_with_an_uncached_ticker_says_what_to_do(tmp_path, fake_yahoo) -> None:
    with pytest.raises(MarketDataUnavailable, match=r"'NEW'.*data.refresh=never.*fincast-fetch"):
        load(tmp_path, fake_yahoo({}), tickers=["NEW"], refresh="never")


def test_missing_downloads_only_the_new_bars_with_an_overlap(
    tmp_path, fake_yahoo, make_bars
) -> None:
    history = make_bars(30, start="2024-01-01")
    cache.write_bars(
        tmp_path,
        "AAPL",
        history.iloc[:20],
        source="yfinance",
        metadata={"auto_adjust": False, "interval": "1d", "covered_from": "2024-01-01"},
    )
    download = fake_yahoo({"AAPL": history})
    bars = load(tmp_path, download, start="2024-01-01", overlap_days=5)["AAPL"]
    assert download.tickers == ["AAPL"]
    assert download.calls[0][1]["start"] == str(history.index[15].date())
    pd.testing.assert_frame_equal(bars, history, check_freq=False)
    pd.testing.assert_frame_equal(cache.read_bars(tmp_path, "AAPL"), history, check_freq=False)


def _cache_like_yahoo(tmp_path, bars, **metadata) -> None:
    facts = {"auto_adjust": False, "interval": "1d", "covered_from": "2024-01-01", **metadata}
    cache.write_bars(tmp_path, "AAPL", bars, source="yfinance", metadata=facts)


def test_missing_revised_bar_in_the_overlap_wins(tmp_path, fake_yahoo, make_bars) -> None:
    history = make_bars(25, start="2024-01-01")
    _cache_like_yahoo(tmp_path, history.iloc[:20])
    revised = history.copy()
    revised.loc[revised.index[18], ["close", "high"]] *= 1.01  # Yahoo corrected a bar
    bars = load(tmp_path, fake_yahoo({"AAPL": revised}), start="2024-01-01")["AAPL"]
    assert bars.loc[history.index[18], "close"] == revised.loc[history.index[18], "close"]
    assert len(bars) == 25


def test_missing_keeps_cached_rows_yahoo_no_longer_returns(tmp_path, fake_yahoo, make_bars) -> None:
    """Yahoo's known "missing latest rows": the cache's newest bars must survive."""
    cached = make_bars(20, start="2024-01-01")
    _cache_like_yahoo(tmp_path, cached)
    truncated = cached.iloc[:18]
    bars = load(tmp_path, fake_yahoo({"AAPL": truncated}), start="2024-01-01")["AAPL"]
    pd.testing.assert_frame_equal(bars, cached, check_freq=False)
    pd.testing.assert_frame_equal(cache.read_bars(tmp_path, "AAPL"), cached, check_freq=False)


def test_changed_auto_adjust_replaces_the_cache_never_mixes(
    tmp_path, fake_yahoo, make_bars
) -> None:
    history = make_bars(20, start="2024-01-01")
    _cache_like_yahoo(tmp_path, history.iloc[:15])
    download = fake_yahoo({"AAPL": history})
    bars = load(tmp_path, download, start="2024-01-01", auto_adjust=True)["AAPL"]
    _, kwargs = download.calls[0]
    assert kwargs["start"] == "2024-01-01" and kwargs["auto_adjust"] is True  # a full download
    assert "adj_close" not in bars.columns
    expected = history["close"] * history["adj_close"] / history["close"]
    assert bars["close"].to_numpy() == pytest.approx(expected.to_numpy())
    assert cache.read_metadata(tmp_path, "AAPL")["auto_adjust"] is True


def test_re_adjusted_history_triggers_a_full_download(tmp_path, fake_yahoo, make_bars) -> None:
    """A dividend moves every earlier adj_close: the old ones must not stay in the cache."""
    history = make_bars(30, start="2024-01-01")
    _cache_like_yahoo(tmp_path, history.iloc[:25])
    after_dividend = history.copy()
    after_dividend["adj_close"] *= 0.99
    download = fake_yahoo({"AAPL": after_dividend})
    bars = load(tmp_path, download, start="2024-01-01")["AAPL"]
    starts = [kwargs["start"] for _, kwargs in download.calls]
    assert starts == [str(history.index[20].date()), "2024-01-01"]
    pd.testing.assert_frame_equal(bars, after_dividend, check_freq=False)


def test_always_downloads_everything_again(tmp_path, fake_yahoo, make_bars) -> None:
    _cache_like_yahoo(tmp_path, make_bars(3, start="2024-01-01", seed=9))
    download = fake_yahoo({"AAPL": make_bars(7, start="2024-01-01")})
    bars = load(tmp_path, download, refresh="always", start="2024-01-01")
    assert download.calls[0][1]["start"] == "2024-01-01"
    assert len(bars["AAPL"]) == 7
    assert len(cache.read_bars(tmp_path, "AAPL")) == 7


def test_served_bars_follow_the_requested_range(tmp_path, fake_yahoo, make_bars) -> None:
    history = make_bars(20, start="2024-01-01")
    _cache_like_yahoo(tmp_path, history)
    bars = load(tmp_path, fake_yahoo({}), refresh="never", start="2024-01-08", end="2024-01-15")[
        "AAPL"
    ]
    assert str(bars.index[0].date()) == "2024-01-08"
    assert str(bars.index[-1].date()) == "2024-01-12"
    assert len(cache.read_bars(tmp_path, "AAPL")) == 20  # the cache keeps everything


@pytest.mark.parametrize("failure", ["empty", "raises"])
def test_failed_refresh_keeps_cache_bytes_and_serves_it_with_its_age(
    tmp_path, fake_yahoo, make_bars, make_yf_empty, caplog, failure: str
) -> None:
    stored = make_bars(9)
    path = cache.write_bars(tmp_path, "AAPL", stored, source="yfinance")
    before = path.read_bytes()
    reply = make_yf_empty("AAPL") if failure == "empty" else DNSError("Could not resolve host")
    download = fake_yahoo({"AAPL": reply})
    with caplog.at_level(logging.WARNING, logger="fincast.data.sync"):
        bars = load(tmp_path, download, refresh="always")
    assert set(download.tickers) == {"AAPL"}
    assert path.read_bytes() == before
    pd.testing.assert_frame_equal(bars["AAPL"], stored, check_freq=False)
    age = (date.today() - stored.index[-1].date()).days
    warnings = [r.getMessage() for r in caplog.records if r.name == "fincast.data.sync"]
    assert any(
        "AAPL" in message
        and str(stored.index[-1].date()) in message
        and f"{age} days old" in message
        for message in warnings
    )
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [path.name]


@pytest.mark.parametrize("failure", ["empty", "raises"])
def test_uncached_failure_raises_unavailable(
    tmp_path, fake_yahoo, make_yf_empty, failure: str
) -> None:
    reply = make_yf_empty("NOPE") if failure == "empty" else DNSError("Could not resolve host")
    with pytest.raises(MarketDataUnavailable) as caught:
        load(tmp_path, fake_yahoo({"NOPE": reply}), tickers=["NOPE"])
    assert caught.value.ticker == "NOPE"
    assert "NOPE" in str(caught.value)
    assert cache.read_bars(tmp_path, "NOPE") is None


def test_batch_with_one_uncached_failure_raises_for_that_ticker(
    tmp_path, fake_yahoo, make_yf_download, make_yf_empty
) -> None:
    download = fake_yahoo(
        {
            "AAPL": make_yf_download("AAPL"),
            "BAD": make_yf_empty("BAD"),
            "MSFT": make_yf_download("MSFT", seed=4),
        }
    )
    with pytest.raises(MarketDataUnavailable) as caught:
        load(tmp_path, download, tickers=["AAPL", "BAD", "MSFT"])
    assert caught.value.ticker == "BAD"
    # The good downloads were still cached, so a retry needs only the bad ticker.
    assert cache.read_bars(tmp_path, "AAPL") is not None
    assert cache.read_bars(tmp_path, "MSFT") is not None


def test_invalid_download_is_not_cached(tmp_path, fake_yahoo, make_yf_download) -> None:
    frame = make_yf_download("AAPL", rows=4)
    frame[("Low", "AAPL")] = frame[("High", "AAPL")] * 2  # low above high
    with pytest.raises(MarketDataError, match="AAPL: low above"):
        load(tmp_path, fake_yahoo({"AAPL": frame}))
    assert cache.read_bars(tmp_path, "AAPL") is None


def test_invalid_merge_leaves_the_cache_untouched(tmp_path, fake_yahoo, make_bars) -> None:
    history = make_bars(20, start="2024-01-01")
    _cache_like_yahoo(tmp_path, history.iloc[:15])
    before = cache.cache_path(tmp_path, "AAPL").read_bytes()
    broken = history.copy()
    broken.loc[broken.index[-1], "low"] = broken["high"].iloc[-1] * 2
    with pytest.raises(MarketDataError, match="AAPL: low above"):
        load(tmp_path, fake_yahoo({"AAPL": broken}), start="2024-01-01")
    assert cache.cache_path(tmp_path, "AAPL").read_bytes() == before


@pytest.mark.parametrize(
    ("refresh", "options", "message"),
    [
        (True, {}, r"data.refresh must be one of never, missing, always. Received: True"),
        ("missing", {"overlap_days": 0}, r"overlap_days must be a whole number >= 1"),
        ("missing", {"interval": "1m"}, r"interval='1m' is intraday"),
    ],
)
def test_bad_settings_are_named_before_any_download(
    tmp_path, fake_yahoo, refresh, options, message
) -> None:
    download = fake_yahoo({})
    with pytest.raises(MarketDataError, match=message):
        load(tmp_path, download, refresh=refresh, **options)
    assert download.calls == []


def test_sync_reports_each_ticker_as_it_goes(tmp_path, fake_yahoo, make_bars, make_yf_empty):
    _cache_like_yahoo(tmp_path, make_bars(5, start="2024-01-01"))
    download = fake_yahoo(
        {"AAPL": make_yf_empty("AAPL"), "MSFT": make_bars(6), "BAD": make_yf_empty("BAD")}
    )
    seen = []
    outcomes = sync_yfinance(
        ["AAPL", "MSFT", "BAD"],
        cache_dir=tmp_path,
        options=yahoo_options(download, start="2024-01-01"),
        on_outcome=lambda outcome: seen.append((outcome.ticker, outcome.status)),
        today=date(2024, 1, 12),
    )
    assert seen == [("AAPL", "stale"), ("MSFT", "fetched"), ("BAD", "failed")]
    # AAPL's cache ends 2024-01-05, MSFT's download (6 business days) on 2024-01-09
    assert [outcome.age_days for outcome in outcomes] == [7, 3, None]
    assert outcomes[0].error is not None and outcomes[0].bars is not None
    assert isinstance(outcomes[2].error, MarketDataUnavailable)
