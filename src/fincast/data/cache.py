"""A Parquet cache of daily bars: one file per ticker, written crash-safely, under a lock.

Layout of ``cache_dir``::

    AAPL.parquet        bars + metadata (JSON in the Parquet schema, key ``fincast``)
    %5EGSPC.parquet     ^GSPC, percent-encoded (reversible, never two tickers per file)
    .locks/             one lock file per ticker (``filelock``), never deleted

A write goes to a sibling temporary file, is fsynced, renamed over the old file with
``os.replace`` and the directory is fsynced: a reader (or a crash at any instant) sees
the old file or the new one, never a mix. Writers of one ticker are serialised with a
file lock; :func:`locked` lets a caller hold it across read-merge-write.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from fincast.data.sources import MarketDataError

METADATA_KEY = b"fincast"
LOCK_DIR = ".locks"
LOCK_TIMEOUT_S = 120.0
SUFFIX = ".parquet"


def cache_path(cache_dir: str | Path, ticker: str) -> Path:
    """File that caches ``ticker``: percent-encoded, so ``^GSPC`` -> ``%5EGSPC.parquet``.

    The encoding is reversible, so two tickers never share a file.
    """
    safe = quote(ticker, safe="").replace(".", "%2E")
    return Path(cache_dir) / f"{safe}{SUFFIX}"


def cached_tickers(cache_dir: str | Path) -> list[str]:
    """Tickers with a cache file in ``cache_dir``, sorted."""
    folder = Path(cache_dir)
    if not folder.is_dir():
        return []
    names = (path.name for path in folder.glob(f"*{SUFFIX}") if not path.name.startswith("."))
    return sorted(unquote(name[: -len(SUFFIX)]) for name in names)


@cache
def _lock(path: str, pid: int) -> FileLock:
    # One object per path and process (a forked child must not reuse its parent's): the
    # object is re-entrant, so write_bars may run inside locked().
    return FileLock(path, timeout=LOCK_TIMEOUT_S)


@contextlib.contextmanager
def locked(cache_dir: str | Path, ticker: str) -> Iterator[None]:
    """Hold the lock of ``ticker`` (other processes writing it wait; re-entrant)."""
    target = cache_path(cache_dir, ticker)
    lock_dir = target.parent / LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    with _lock(str(lock_dir / f"{target.name}.lock"), os.getpid()):
        yield


@cache
def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped cached bars (recorded with every write)."""
    versions = {}
    for name in ("fincast", "yfinance", "pandas", "pyarrow"):
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform (Windows)
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _remove_stale_temporaries(target: Path) -> None:
    """Temp files of writers that died (killed mid-write); safe under the ticker's lock."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def _atomic_write(table: pa.Table, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temporary.open("wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(target)  # os.replace: atomic on POSIX and Windows
        _fsync_directory(target.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_bars(
    cache_dir: str | Path,
    ticker: str,
    bars: pd.DataFrame,
    *,
    source: str,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``bars`` for ``ticker`` crash-safely under the ticker's lock.

    Args:
        cache_dir: the cache folder (created when missing).
        ticker: symbol; see :func:`cache_path` for the file name.
        bars: daily bars indexed by date; an empty frame is refused so that a failed
            download never truncates the cache.
        source: where the bars came from (``yfinance``, ...).
        metadata: more facts to record (``auto_adjust``, ``interval``, ``fetched_at``, ...).

    Returns:
        The path of the cache file.
    """
    if bars.empty:
        raise ValueError(f"Refusing to cache an empty frame for {ticker!r}.")
    target = cache_path(cache_dir, ticker)
    table = pa.Table.from_pandas(bars.rename_axis("date"), preserve_index=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    facts = {
        "ticker": ticker,
        "source": source,
        "fetched_at": now,
        **(metadata or {}),
        "written_at": now,
        "first_date": str(bars.index[0].date()),
        "last_date": str(bars.index[-1].date()),
        "rows": len(bars),
        "versions": library_versions(),
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(facts).encode()}
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(cache_dir, ticker):
        _remove_stale_temporaries(target)
        _atomic_write(table, target)
    return target


def _unreadable(path: Path, error: Exception) -> MarketDataError:
    return MarketDataError(
        f"Cache file {str(path)!r} is unreadable ({type(error).__name__}: {error}); delete it "
        f"and fetch again (fincast-fetch data.refresh=always)."
    )


def read_bars(cache_dir: str | Path, ticker: str) -> pd.DataFrame | None:
    """Cached bars for ``ticker``, or ``None`` when nothing is cached.

    Raises:
        MarketDataError: the file exists but cannot be read.
    """
    path = cache_path(cache_dir, ticker)
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, pa.ArrowException) as error:
        raise _unreadable(path, error) from error


def read_metadata(cache_dir: str | Path, ticker: str) -> dict[str, Any] | None:
    """The metadata written with the cached bars of ``ticker`` (``{}`` if foreign), or None."""
    path = cache_path(cache_dir, ticker)
    if not path.is_file():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as error:
        raise _unreadable(path, error) from error
    raw = metadata.get(METADATA_KEY)
    return dict(json.loads(raw)) if raw else {}
