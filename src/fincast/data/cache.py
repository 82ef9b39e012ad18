"""A Parquet cache of daily bars, one file per ticker, written crash-safely."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"fincast"


def cache_path(cache_dir: Path, ticker: str) -> Path:
    """File that caches ``ticker``: percent-encoded, so ``^GSPC`` -> ``%5EGSPC.parquet``.

    The encoding is reversible, so two tickers never share a file.
    """
    safe = quote(ticker, safe="").replace(".", "%2E")
    return Path(cache_dir) / f"{safe}.parquet"


def write_bars(cache_dir: Path, ticker: str, bars: pd.DataFrame, *, source: str) -> Path:
    """Write ``bars`` for ``ticker`` atomically: temp file, fsync, then ``os.replace``.

    An empty frame is refused so that a failed download never truncates the cache.
    """
    if bars.empty:
        raise ValueError(f"Refusing to cache an empty frame for {ticker!r}.")
    target = cache_path(cache_dir, ticker)
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(bars, preserve_index=True)
    metadata = {
        "ticker": ticker,
        "source": source,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "first_date": str(bars.index[0].date()),
        "last_date": str(bars.index[-1].date()),
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(metadata).encode()}
    )
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def read_bars(cache_dir: Path, ticker: str) -> pd.DataFrame | None:
    """Cached bars for ``ticker``, or ``None`` when nothing is cached."""
    path = cache_path(cache_dir, ticker)
    if not path.is_file():
        return None
    return pd.read_parquet(path)


def read_metadata(cache_dir: Path, ticker: str) -> dict[str, str] | None:
    """The metadata written with the cached bars of ``ticker``, if any."""
    path = cache_path(cache_dir, ticker)
    if not path.is_file():
        return None
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(METADATA_KEY)
    return json.loads(raw) if raw else {}
