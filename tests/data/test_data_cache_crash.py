"""The cache under real process deaths and real concurrent writers.

Writers are forked processes (fast to start, no re-import) killed with SIGKILL at
random instants: the cache file must always be the old or the new version, readable,
never a mix or a truncation. Two processes updating one ticker under its lock must
never lose each other's rows.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
from collections import Counter

import pandas as pd
import pytest

from fincast.data import cache

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs fork and SIGKILL",
)
FORK = multiprocessing.get_context("fork") if sys.platform != "win32" else None
TRIALS = 120
ROWS = 5_000  # 20 years of daily bars: a realistic cache file (~300 kB)


def test_sigkill_at_random_points_leaves_old_or_new_file(tmp_path, make_bars) -> None:
    old = make_bars(ROWS, start="1990-01-01", seed=1)
    new = make_bars(ROWS + 7, start="1990-01-01", seed=2)
    cache.write_bars(tmp_path, "AAPL", old, source="old")

    def writer() -> None:
        while True:
            cache.write_bars(tmp_path, "AAPL", new, source="new")
            cache.write_bars(tmp_path, "AAPL", old, source="old")

    rng = random.Random(20240105)
    seen: Counter[tuple[str, bool]] = Counter()
    for _ in range(TRIALS):
        process = FORK.Process(target=writer, daemon=True)
        process.start()
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        assert process.exitcode == -signal.SIGKILL
        mid_write = any(path.name.endswith(".tmp") for path in tmp_path.iterdir())
        bars = cache.read_bars(tmp_path, "AAPL")
        source = cache.read_metadata(tmp_path, "AAPL")["source"]
        if bars.equals(old):
            version = "old"
        elif bars.equals(new):
            version = "new"
        else:
            pytest.fail(f"the cache holds neither version: {len(bars)} rows")
        assert source == version  # the metadata travels with its bars
        seen[(version, mid_write)] += 1
    print(f"outcomes (version, killed mid-write): {dict(seen)}")
    assert sum(count for (_, mid), count in seen.items() if mid) > 0  # the window was hit
    # The next write cleans up after the killed writers.
    cache.write_bars(tmp_path, "AAPL", new, source="new")
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


def _append_rows(cache_dir, worker: int, count: int) -> None:
    for number in range(count):
        with cache.locked(cache_dir, "AAPL"):
            bars = cache.read_bars(cache_dir, "AAPL")
            day = bars.index[-1] + pd.Timedelta(days=1)
            row = bars.iloc[[-1]].copy()
            row.index = pd.DatetimeIndex([day], name="date")
            row["volume"] = float(worker * 1000 + number)
            time.sleep(0.001)  # widen the read-modify-write window
            cache.write_bars(cache_dir, "AAPL", pd.concat([bars, row]), source=f"w{worker}")


def test_two_processes_updating_one_ticker_never_lose_rows(tmp_path, make_bars) -> None:
    start = make_bars(5)
    cache.write_bars(tmp_path, "AAPL", start, source="start")
    workers = [FORK.Process(target=_append_rows, args=(tmp_path, w, 15)) for w in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    bars = cache.read_bars(tmp_path, "AAPL")
    assert len(bars) == 5 + 2 * 15
    added = set(bars["volume"].iloc[5:].astype(int))
    assert added == {w * 1000 + n for w in (1, 2) for n in range(15)}


def _hold_lock(cache_dir, held: float) -> None:
    with cache.locked(cache_dir, "AAPL"):
        (cache_dir / "holding").write_text("yes")
        time.sleep(held)


def test_a_writer_waits_for_the_lock_holder(tmp_path, make_bars) -> None:
    holder = FORK.Process(target=_hold_lock, args=(tmp_path, 0.5))
    holder.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "holding").exists():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    started = time.monotonic()
    cache.write_bars(tmp_path, "AAPL", make_bars(3), source="waiter")
    waited = time.monotonic() - started
    holder.join(timeout=30)
    assert holder.exitcode == 0
    assert waited > 0.2  # blocked until the holder let go
