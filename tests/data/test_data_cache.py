"""The Parquet bar cache: round trips, metadata, safe names and crash-safe writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fincast.data import cache
from fincast.data.sources import MarketDataError


def visible(folder) -> list[str]:
    """File names a user sees (the ``.locks`` folder and temp files are hidden)."""
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


def hidden_temporaries(folder) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.endswith(".tmp")]


def test_round_trip_preserves_values_index_and_dtypes(tmp_path, make_bars) -> None:
    bars = make_bars(12)
    path = cache.write_bars(tmp_path, "AAPL", bars, source="yfinance")
    assert path == tmp_path / "AAPL.parquet"
    assert path.is_file()
    restored = cache.read_bars(tmp_path, "AAPL")
    assert restored is not None
    pd.testing.assert_frame_equal(restored, bars, check_freq=False)
    assert restored.index.name == "date"
    assert isinstance(restored.index, pd.DatetimeIndex)


def test_round_trip_of_irregular_dates_and_exact_floats(tmp_path) -> None:
    index = pd.DatetimeIndex(["1999-01-04", "2008-09-15", "2018-12-31"], name="date")
    bars = pd.DataFrame(
        {
            "open": [0.1, 1e-12, 12345.678901234567],
            "high": [0.3, 2e-12, 99999.99999999999],
            "low": [0.05, 5e-13, 1.0000000000000002],
            "close": [0.2, 1.5e-12, 5e4],
            "volume": [0.0, 1.0, 9.007199254740993e15],
        },
        index=index,
    )
    cache.write_bars(tmp_path, "X", bars, source="csv")
    restored = cache.read_bars(tmp_path, "X")
    pd.testing.assert_frame_equal(restored, bars, check_exact=True)


def test_metadata(tmp_path, make_bars) -> None:
    bars = make_bars(5, start="2020-03-02")
    before = datetime.now(UTC).replace(microsecond=0)
    cache.write_bars(tmp_path, "^GSPC", bars, source="yfinance")
    metadata = cache.read_metadata(tmp_path, "^GSPC")
    assert metadata is not None
    assert metadata["ticker"] == "^GSPC"
    assert metadata["source"] == "yfinance"
    assert metadata["first_date"] == "2020-03-02"
    assert metadata["last_date"] == str(bars.index[-1].date()) == "2020-03-06"
    written = datetime.fromisoformat(metadata["written_at"])
    assert written.tzinfo is not None
    assert before <= written <= datetime.now(UTC)


def test_metadata_is_in_the_parquet_schema(tmp_path, make_bars) -> None:
    path = cache.write_bars(tmp_path, "A", make_bars(3), source="sample")
    raw = pq.read_schema(path).metadata[cache.METADATA_KEY]
    assert json.loads(raw)["source"] == "sample"


def test_missing_entries_read_as_none(tmp_path) -> None:
    assert cache.read_bars(tmp_path, "NOPE") is None
    assert cache.read_metadata(tmp_path, "NOPE") is None
    assert cache.read_bars(tmp_path / "not-created", "NOPE") is None


def test_foreign_parquet_file_has_empty_metadata(tmp_path, make_bars) -> None:
    make_bars(3).to_parquet(cache.cache_path(tmp_path, "EXT"))
    assert cache.read_metadata(tmp_path, "EXT") == {}


@pytest.mark.parametrize(
    ("ticker", "name"),
    [
        ("^GSPC", "%5EGSPC.parquet"),
        ("BRK-B", "BRK-B.parquet"),
        ("BTC-USD", "BTC-USD.parquet"),
        ("EURUSD=X", "EURUSD%3DX.parquet"),
        ("../etc/passwd", "%2E%2E%2Fetc%2Fpasswd.parquet"),
        ("a b/c\\d:e", "a%20b%2Fc%5Cd%3Ae.parquet"),
    ],
)
def test_cache_path_is_a_safe_file_name(tmp_path, ticker: str, name: str) -> None:
    path = cache.cache_path(tmp_path, ticker)
    assert path.parent == tmp_path
    assert path.name == name


def test_similar_tickers_never_share_a_file(tmp_path) -> None:
    names = {
        cache.cache_path(tmp_path, ticker).name
        for ticker in ("^GSPC", "_GSPC", "A/B", "A_B", "A.B")
    }
    assert len(names) == 5


def test_caret_ticker_round_trip(tmp_path, make_bars) -> None:
    bars = make_bars(4)
    path = cache.write_bars(tmp_path, "^GSPC", bars, source="yfinance")
    assert path.name == "%5EGSPC.parquet"
    assert visible(tmp_path) == ["%5EGSPC.parquet"]
    pd.testing.assert_frame_equal(cache.read_bars(tmp_path, "^GSPC"), bars, check_freq=False)


def test_write_creates_missing_directories(tmp_path, make_bars) -> None:
    target = tmp_path / "deep" / "cache"
    path = cache.write_bars(target, "A", make_bars(2), source="yfinance")
    assert path.parent == target and path.is_file()


def test_string_cache_dir_is_accepted(tmp_path, make_bars) -> None:
    cache.write_bars(str(tmp_path), "A", make_bars(2), source="yfinance")
    assert cache.read_bars(str(tmp_path), "A") is not None


def test_empty_frame_refused_and_existing_file_untouched(tmp_path, make_bars) -> None:
    path = cache.write_bars(tmp_path, "AAPL", make_bars(6), source="yfinance")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="Refusing to cache an empty frame for 'AAPL'"):
        cache.write_bars(tmp_path, "AAPL", make_bars(6).iloc[:0], source="yfinance")
    assert path.read_bytes() == before
    assert visible(tmp_path) == ["AAPL.parquet"]


def test_empty_frame_refused_without_creating_anything(tmp_path, make_bars) -> None:
    with pytest.raises(ValueError):
        cache.write_bars(tmp_path / "c", "AAPL", make_bars(3).iloc[:0], source="yfinance")
    assert cache.read_bars(tmp_path / "c", "AAPL") is None


def test_overwrite_replaces_and_leaves_no_temp_file(tmp_path, make_bars) -> None:
    cache.write_bars(tmp_path, "AAPL", make_bars(3), source="yfinance")
    newer = make_bars(8, seed=5)
    cache.write_bars(tmp_path, "AAPL", newer, source="yfinance")
    assert visible(tmp_path) == ["AAPL.parquet"]
    assert hidden_temporaries(tmp_path) == []
    pd.testing.assert_frame_equal(cache.read_bars(tmp_path, "AAPL"), newer, check_freq=False)


def test_failed_write_leaves_no_temp_file_and_old_file_intact(tmp_path, make_bars) -> None:
    path = cache.write_bars(tmp_path, "AAPL", make_bars(3), source="yfinance")
    before = path.read_bytes()
    unwritable = make_bars(3).astype(object)
    unwritable.iloc[0, 0] = object()  # pyarrow cannot convert this
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type is not the point
        cache.write_bars(tmp_path, "AAPL", unwritable, source="yfinance")
    assert path.read_bytes() == before
    assert visible(tmp_path) == ["AAPL.parquet"]
    assert hidden_temporaries(tmp_path) == []


def test_temp_file_removed_when_the_final_rename_fails(tmp_path, make_bars) -> None:
    blocker = cache.cache_path(tmp_path, "AAPL")
    blocker.mkdir()  # os.replace cannot put a file over a non-empty directory
    (blocker / "keep").write_text("x")
    with pytest.raises(OSError):
        cache.write_bars(tmp_path, "AAPL", make_bars(3), source="yfinance")
    assert visible(tmp_path) == ["AAPL.parquet"]
    assert hidden_temporaries(tmp_path) == []
    assert (blocker / "keep").read_text() == "x"


def test_metadata_records_mode_and_library_versions(tmp_path, make_bars) -> None:
    cache.write_bars(
        tmp_path,
        "AAPL",
        make_bars(4),
        source="yfinance",
        metadata={
            "auto_adjust": False,
            "interval": "1d",
            "fetched_at": "2024-01-09T10:00:00+00:00",
        },
    )
    metadata = cache.read_metadata(tmp_path, "AAPL")
    assert metadata["auto_adjust"] is False and metadata["interval"] == "1d"
    assert metadata["fetched_at"] == "2024-01-09T10:00:00+00:00"
    assert metadata["rows"] == 4
    versions = metadata["versions"]
    assert set(versions) == {"fincast", "yfinance", "pandas", "pyarrow"}
    assert versions["pandas"] == pd.__version__


def test_metadata_cannot_override_the_facts_of_the_bars(tmp_path, make_bars) -> None:
    bars = make_bars(4, start="2024-01-02")
    cache.write_bars(tmp_path, "A", bars, source="x", metadata={"last_date": "2099-01-01"})
    assert cache.read_metadata(tmp_path, "A")["last_date"] == "2024-01-05"


def test_unnamed_index_is_stored_as_date(tmp_path, make_bars) -> None:
    bars = make_bars(3).rename_axis(None)
    cache.write_bars(tmp_path, "A", bars, source="x")
    assert cache.read_bars(tmp_path, "A").index.name == "date"


def test_corrupt_file_is_a_clear_error(tmp_path) -> None:
    cache.cache_path(tmp_path, "AAPL").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(MarketDataError, match=r"AAPL.parquet' is unreadable.*delete it"):
        cache.read_bars(tmp_path, "AAPL")
    with pytest.raises(MarketDataError, match="unreadable"):
        cache.read_metadata(tmp_path, "AAPL")


def test_cached_tickers_reverses_the_file_names(tmp_path, make_bars) -> None:
    for ticker in ("^GSPC", "BRK.B", "EURUSD=X", "AAPL"):
        cache.write_bars(tmp_path, ticker, make_bars(2), source="x")
    assert cache.cached_tickers(tmp_path) == ["AAPL", "BRK.B", "EURUSD=X", "^GSPC"]
    assert cache.cached_tickers(tmp_path / "none") == []


def test_lock_is_reentrant_so_writes_can_run_inside_it(tmp_path, make_bars) -> None:
    with cache.locked(tmp_path, "AAPL"), cache.locked(tmp_path, "AAPL"):
        cache.write_bars(tmp_path, "AAPL", make_bars(3), source="x")
    assert (tmp_path / cache.LOCK_DIR / "AAPL.parquet.lock").is_file()


def test_stale_temp_files_of_killed_writers_are_removed(tmp_path, make_bars) -> None:
    target = cache.cache_path(tmp_path, "AAPL")
    stale = target.with_name(f".{target.name}.99999.deadbeef.tmp")
    stale.write_bytes(b"half a parquet file")
    other = tmp_path / ".MSFT.parquet.1.cafe.tmp"
    other.write_bytes(b"another ticker's writer")
    cache.write_bars(tmp_path, "AAPL", make_bars(3), source="x")
    assert not stale.exists()
    assert other.exists()  # another ticker's lock does not cover it
