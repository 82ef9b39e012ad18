"""fincast-fetch as a user runs it: a subprocess in a fresh directory, no network needed.

The yfinance tests run the real yfinance: offline (as here) it answers an empty
frame and logs a DNS error; online, a made-up symbol also gets no rows. Either way
the user must see one line per failed ticker, no traceback, and exit status 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fincast.data import cache, sources

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
BAD = "NOSUCHTICKER-FINCAST"


def fetch(*overrides: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "fincast-fetch"), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def progress(stderr: str, ticker: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.split(" ")[1:2] == [f"{ticker}:"]]


def test_sample_prints_progress_and_the_summary(tmp_path) -> None:
    result = fetch("data=sample", "data.tickers=[^GSPC,^IXIC]", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert progress(result.stderr, "^GSPC") == [
        "[1/2] ^GSPC: loaded, 5,031 rows, 1999-01-04 .. 2018-12-31"
    ]
    assert len(progress(result.stderr, "^IXIC")) == 1
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == [
        "ticker", "status", "rows", "first", "last", "stale_days", "validation", "error"
    ]  # fmt: skip
    assert rows[0].split()[:5] == ["^GSPC", "loaded", "5031", "1999-01-04", "2018-12-31"]
    assert rows[1].split()[0] == "^IXIC"
    assert all(row.split()[-1] == "-" for row in rows)  # no errors


def test_yfinance_bad_ticker_is_one_clear_line_and_status_2(tmp_path) -> None:
    result = fetch(
        "data=yfinance",
        f"data.tickers=[{BAD}]",
        "data.options.retry.tries=1",
        f"data.cache_dir={tmp_path / 'cache'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = progress(result.stderr, BAD)
    assert line.startswith(f"[1/1] {BAD}: error: No market data for '{BAD}': ")
    assert "data=sample" in line  # says what to do
    assert "Traceback" not in result.stderr
    assert "Failed download" not in result.stderr  # yfinance's own log lines are folded in
    assert result.stderr.strip().splitlines()[-1].startswith("fincast-fetch: error: 1 of 1")
    (row,) = result.stdout.strip().splitlines()[1:]
    assert row.split()[:3] == [BAD, "failed", "0"]
    assert not cache.cached_tickers(tmp_path / "cache")


def test_cached_ticker_is_served_and_the_bad_one_reported(tmp_path) -> None:
    bars = sources.load_sample(["^GSPC"])["^GSPC"]
    cache_dir = tmp_path / "cache"
    facts = {"auto_adjust": False, "interval": "1d", "covered_from": "1999-01-01"}
    cache.write_bars(cache_dir, "^GSPC", bars, source="yfinance", metadata=facts)
    result = fetch(
        "data=yfinance",
        f"data.tickers=[^GSPC,{BAD}]",
        "data.refresh=never",
        "data.options.start=2000-01-01",
        f"data.cache_dir={cache_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert progress(result.stderr, "^GSPC") == [
        "[1/2] ^GSPC: cached, 4,779 rows, 2000-01-03 .. 2018-12-31"
    ]
    (line,) = progress(result.stderr, BAD)
    assert "data.refresh=never" in line and "fincast-fetch" in line
    rows = result.stdout.strip().splitlines()[1:]
    assert rows[0].split()[:5] == ["^GSPC", "cached", "4779", "2000-01-03", "2018-12-31"]
    assert rows[1].split()[:2] == [BAD, "failed"]


def test_fetch_applies_the_jobs_data_policy_to_bundled_data(tmp_path):
    """PTR's empty row of 2016-06-29: stocknet's repair policy drops it, 'raise' refuses it."""
    repaired = fetch("data=stocknet", "data.tickers=[PTR]", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr[-2000:]
    assert "PTR" in repaired.stdout
    refused = fetch("data=stocknet", "data.tickers=[PTR]", "data.on_invalid=raise", cwd=tmp_path)
    assert refused.returncode == 2
    assert "missing price" in refused.stderr + refused.stdout
