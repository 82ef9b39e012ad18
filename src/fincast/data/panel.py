"""Many tickers in one frame: a ``(ticker, date)`` MultiIndex panel, and back.

Global models train on all tickers at once; they want one long frame. The panel's
rows are grouped by ticker (in the order given) and sorted by date within a ticker;
its columns are the union of the tickers' columns (a ticker without ``adj_close``
gets NaN there, and :func:`from_panel` drops such all-NaN columns again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from fincast.data import cache
from fincast.data.sources import PRICE_COLUMNS, MarketDataError

LEVELS = ("ticker", "date")


def to_panel(bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Stack per-ticker bars into one frame indexed by ``(ticker, date)``.

    >>> index = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="date")
    >>> panel = to_panel({"A": pd.DataFrame({"close": [1.0, 2.0]}, index=index),
    ...                   "B": pd.DataFrame({"close": [3.0, 4.0]}, index=index)})
    >>> panel.index.names, panel.shape
    (FrozenList(['ticker', 'date']), (4, 1))
    """
    if not bars:
        index = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=object), pd.DatetimeIndex([])], names=LEVELS
        )
        return pd.DataFrame(index=index)
    frames = [frame.rename_axis("date") for frame in bars.values()]
    return pd.concat(frames, keys=list(bars), names=["ticker"])


def from_panel(panel: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split a ``(ticker, date)`` panel into per-ticker bars, in the panel's ticker order.

    Raises:
        MarketDataError: the index is not a two-level ``(ticker, date)`` MultiIndex.
    """
    if not isinstance(panel.index, pd.MultiIndex) or list(panel.index.names) != list(LEVELS):
        raise MarketDataError(
            f"A panel needs a (ticker, date) MultiIndex. Received index names: "
            f"{list(panel.index.names)}"
        )
    tickers = panel.index.get_level_values("ticker")
    result: dict[str, pd.DataFrame] = {}
    for ticker, frame in panel.groupby(tickers, sort=False):
        bars = frame.droplevel("ticker").dropna(axis=1, how="all")
        bars.index = pd.DatetimeIndex(bars.index, name="date")
        result[str(ticker)] = bars
    return result


def _scan(paths: Sequence[Path], use_threads: bool) -> tuple[pa.Table, list[int]]:
    """All files as one Arrow table, in the order given, and each file's row count.

    A dataset built from a list of files returns its rows in the order of the files
    (pyarrow's dataset docs); the row counts come from the Parquet footers.
    """
    files = [str(path) for path in paths]
    dataset = ds.dataset(files, format="parquet")
    fragments = list(dataset.get_fragments())
    counts = [fragment.metadata.num_rows for fragment in fragments]
    schemas = list(dict.fromkeys(f.physical_schema.remove_metadata() for f in fragments))
    if len(schemas) > 1:  # e.g. some tickers without adj_close: read the union of columns
        dataset = ds.dataset(files, format="parquet", schema=pa.unify_schemas(schemas))
    table = dataset.to_table(use_threads=use_threads)
    if table.num_rows != sum(counts):
        raise MarketDataError(f"Cache files changed while they were read: {files[0]} ...")
    return table, counts


def read_panel(
    cache_dir: str | Path, tickers: Sequence[str] | None = None, *, use_threads: bool = True
) -> pd.DataFrame:
    """Read cached tickers straight into a ``(ticker, date)`` panel.

    Scans all Parquet files as one pyarrow dataset (decoding in parallel, without
    the GIL) and converts to pandas once: much faster than one ``pd.read_parquet``
    and one ``pd.concat`` per ticker (see ``benchmarks/cache_panel.py``).

    Args:
        cache_dir: the Parquet cache.
        tickers: which tickers (default: every cached one, sorted).
        use_threads: decode files on pyarrow's thread pool.

    Raises:
        MarketDataError: a requested ticker is not cached.
    """
    names = list(dict.fromkeys(tickers)) if tickers is not None else cache.cached_tickers(cache_dir)
    paths = [cache.cache_path(cache_dir, ticker) for ticker in names]
    missing = [ticker for ticker, path in zip(names, paths, strict=True) if not path.is_file()]
    if missing:
        raise MarketDataError(
            f"Not in the cache {str(cache_dir)!r}: {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}. Fetch them first (fincast-fetch)."
        )
    if not names:
        return to_panel({})
    table, counts = _scan(paths, use_threads)
    frame = table.replace_schema_metadata(None).to_pandas(use_threads=use_threads)
    codes = np.repeat(np.arange(len(names)), counts)
    tickers_level = pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))
    dates = pd.DatetimeIndex(frame.pop("date"), name="date")
    frame.index = pd.MultiIndex.from_arrays([tickers_level, dates], names=LEVELS)
    known = [column for column in PRICE_COLUMNS if column in frame.columns]
    order = known + [column for column in frame.columns if column not in known]
    return frame if list(frame.columns) == order else frame[order]
