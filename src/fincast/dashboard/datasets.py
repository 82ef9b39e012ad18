"""The Data page's logic: what is cached, how fresh and how clean it is, refresh and upload.

Every function takes plain values and returns plain tables, so the page only lays
them out. Refreshing goes through :func:`fincast.data.sync.sync_yfinance` (the same
code as ``fincast-fetch``); an upload goes through the CSV source and the strict checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.dashboard.uploads import MAX_UPLOAD_BYTES, read_upload
from fincast.data import cache, calendars
from fincast.data import tickers as symbols
from fincast.data.report import ValidationReport
from fincast.data.sources import MarketDataError, load_sample
from fincast.data.validate import check_bars

__all__ = ["MAX_UPLOAD_BYTES", "read_upload"]  # the Data page's upload, kept importable here
MAX_TICKERS = 20
REFRESH_OPTIONS: dict[str, Any] = {
    "start": "2010-01-01",
    # a dashboard user waits for the answer: few, short retries
    "retry": {"tries": 2, "base_delay": 0.5, "max_delay": 2.0, "total_timeout": 15.0},
}
INVENTORY_COLUMNS = (
    "ticker",
    "source",
    "rows",
    "first_date",
    "last_date",
    "days_old",
    "fetched_at",
    "errors",
    "warnings",
    "findings",
)


def check_series(bars: pd.DataFrame, ticker: str) -> ValidationReport:
    """Every data check on ``bars`` against the ticker's exchange calendar (nothing changed)."""
    return check_bars(bars, ticker, calendar=calendars.calendar_for(ticker))


def _row(ticker: str, source: str, bars: pd.DataFrame, today: date, fetched: str) -> dict:
    report = check_series(bars, ticker)
    last = pd.Timestamp(bars.index[-1])
    return {
        "ticker": ticker,
        "source": source,
        "rows": len(bars),
        "first_date": str(pd.Timestamp(bars.index[0]).date()),
        "last_date": str(last.date()),
        "days_old": (today - last.date()).days,
        "fetched_at": fetched,
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "findings": report.summary(),
    }


def cache_inventory(cache_dir: str | Path, today: date | None = None) -> pd.DataFrame:
    """One row per cached ticker: rows, date range, staleness, and what the checks found.

    ``days_old`` counts calendar days from the last bar to ``today``; an unreadable
    cache file gets a row whose ``findings`` say so.
    """
    today = today or date.today()
    rows = []
    for ticker in cache.cached_tickers(cache_dir):
        try:
            bars = cache.read_bars(cache_dir, ticker)
            facts = cache.read_metadata(cache_dir, ticker) or {}
            if bars is None or bars.empty:
                continue
            fetched = str(facts.get("fetched_at", ""))
            rows.append(_row(ticker, str(facts.get("source", "cache")), bars, today, fetched))
        except (MarketDataError, OSError, ValueError) as error:
            rows.append({"ticker": ticker, "source": "cache", "errors": 1, "findings": str(error)})
    return pd.DataFrame(rows, columns=list(INVENTORY_COLUMNS))


def sample_inventory(tickers: Sequence[str], today: date | None = None) -> pd.DataFrame:
    """The bundled sample series, in the same table as the cache."""
    today = today or date.today()
    bars = load_sample(list(tickers))
    rows = [_row(name, "sample (bundled)", frame, today, "") for name, frame in bars.items()]
    return pd.DataFrame(rows, columns=list(INVENTORY_COLUMNS))


def parse_tickers(text: str) -> list[str]:
    """The Data page's tickers: :func:`fincast.data.tickers.parse_tickers`, none for no text.

    >>> parse_tickers("AAPL, msft;^GSPC  AAPL")
    ['AAPL', 'msft', '^GSPC']

    Raises:
        MarketDataError: more than :data:`MAX_TICKERS` tickers, or a malformed one (quoted).
    """
    if not text.strip():
        return []
    return symbols.parse_tickers(text, max_tickers=MAX_TICKERS)


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did for one ticker: ``ok`` and a one-line message."""

    ticker: str
    ok: bool
    status: str
    message: str


def _result(outcome: Any) -> RefreshResult:
    if outcome.status == "failed" or outcome.bars is None:
        return RefreshResult(outcome.ticker, False, "failed", str(outcome.error))
    rows = len(outcome.bars)
    last = f"up to {outcome.bars.index[-1].date()}" if rows else "in the requested range"
    message = f"{outcome.status}: {rows} rows {last}"
    if outcome.status == "stale":
        message += f"; the refresh failed, so the cache is served as it was ({outcome.error})"
    return RefreshResult(outcome.ticker, outcome.status != "stale", outcome.status, message)


def refresh_tickers(
    tickers: Sequence[str],
    cache_dir: str | Path,
    *,
    options: dict[str, Any] | None = None,
    on_result: Callable[[int, RefreshResult], None] | None = None,
) -> list[RefreshResult]:
    """Download what the cache lacks for each ticker from Yahoo Finance; one result per ticker.

    A failure (offline, unknown symbol, rate limit) never stops the other tickers and
    never changes what is cached.

    Args:
        tickers: Yahoo symbols.
        cache_dir: the Parquet cache.
        options: yfinance ``data.options`` (default :data:`REFRESH_OPTIONS`).
        on_result: called with ``(done, result)`` after each ticker (progress bars).
    """
    from fincast.data.sync import sync_yfinance

    results: list[RefreshResult] = []

    def record(outcome: Any) -> None:
        results.append(_result(outcome))
        if on_result is not None:
            on_result(len(results), results[-1])

    try:
        sync_yfinance(
            list(tickers),
            cache_dir=cache_dir,
            refresh="missing",
            options=dict(REFRESH_OPTIONS if options is None else options),
            on_outcome=record,
        )
    except MarketDataError as error:  # bad options: every ticker gets the same message
        done = {result.ticker for result in results}
        for ticker in [name for name in tickers if name not in done]:
            results.append(RefreshResult(ticker, False, "failed", str(error)))
    return results
