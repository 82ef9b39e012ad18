"""Reading a big Parquet cache into one (ticker, date) panel.

500 tickers x 20 years (5,040 business days) of synthetic daily bars are written into
a temporary cache with fincast's own writer, then read back into a panel by:

* ``fincast.read_panel``: one pyarrow dataset scan of all files, one to_pandas;
* ``fincast.read_panel(use_threads=False)``: the same on one thread;
* ``pandas loop``: the obvious peer, ``pd.read_parquet`` per file then ``pd.concat``.

Each is timed after one warm-up run; the table shows the median of ``--runs`` runs and
the ratio to the peer. Results go to ``benchmarks/results/cache_panel.json``.

    .venv/bin/python benchmarks/cache_panel.py [--tickers 500] [--rows 5040] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fincast.data import cache
from fincast.data.panel import read_panel

RESULTS = Path(__file__).resolve().parent / "results" / "cache_panel.json"


def synthetic_bars(rows: int, seed: int) -> pd.DataFrame:
    """Plausible daily bars: a random walk with consistent open/high/low/close."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, rows)))
    open_ = close * np.exp(rng.normal(0.0, 0.004, rows))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, rows))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, rows))
    volume = rng.integers(100_000, 5_000_000, rows).astype("float64")
    index = pd.bdate_range("2005-01-03", periods=rows, name="date")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "adj_close": close * 0.97,
         "volume": volume},
        index=pd.DatetimeIndex(index, name="date"),
    )  # fmt: skip


def pandas_loop(cache_dir: Path, tickers: list[str]) -> pd.DataFrame:
    """The peer: one ``pd.read_parquet`` per ticker, then one ``pd.concat``."""
    frames = {ticker: pd.read_parquet(cache.cache_path(cache_dir, ticker)) for ticker in tickers}
    return pd.concat(frames, names=["ticker", "date"])


def median_seconds(function: Callable[[], pd.DataFrame], runs: int) -> tuple[float, list[float]]:
    """Median wall time of ``runs`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main() -> None:
    """Write the cache, time the readers, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--rows", type=int, default=5040)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cache_dir = Path(folder)
        tickers = [f"T{number:04d}" for number in range(args.tickers)]
        started = time.perf_counter()
        for number, ticker in enumerate(tickers):
            cache.write_bars(cache_dir, ticker, synthetic_bars(args.rows, number), source="bench")
        write_s = time.perf_counter() - started
        size_mb = sum(path.stat().st_size for path in cache_dir.glob("*.parquet")) / 1e6
        readers: dict[str, Callable[[], pd.DataFrame]] = {
            "fincast read_panel": lambda: read_panel(cache_dir, tickers),
            "fincast read_panel, 1 thread": lambda: read_panel(
                cache_dir, tickers, use_threads=False
            ),
            "pandas loop (peer)": lambda: pandas_loop(cache_dir, tickers),
        }
        check = read_panel(cache_dir, tickers)
        assert check.shape == (args.tickers * args.rows, 6), check.shape
        timings = {name: median_seconds(reader, args.runs) for name, reader in readers.items()}
    peer = timings["pandas loop (peer)"][0]
    print(
        f"{args.tickers} tickers x {args.rows} rows = {args.tickers * args.rows:,} bars, "
        f"{size_mb:.0f} MB of Parquet (written in {write_s:.1f} s); {os.cpu_count()} CPUs; "
        f"median of {args.runs} runs after a warm-up"
    )
    print(f"{'reader':<32}{'median s':>10}{'vs peer':>10}")
    for name, (median, _) in timings.items():
        print(f"{name:<32}{median:>10.3f}{peer / median:>9.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "tickers": args.tickers,
                "rows_per_ticker": args.rows,
                "parquet_mb": round(size_mb, 1),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "versions": cache.library_versions(),
                "runs": args.runs,
                "results": {
                    name: {"median_s": round(median, 4), "runs_s": [round(t, 4) for t in runs]}
                    for name, (median, runs) in timings.items()
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"Wrote {RESULTS}")


if __name__ == "__main__":
    main()
