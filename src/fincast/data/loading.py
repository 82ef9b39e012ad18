"""One call to get validated bars from any source, using the cache for fetched data."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.data import cache, sources
from fincast.data.validate import validate_bars

SOURCES = ("sample", "yfinance", "csv", "parquet")
logger = logging.getLogger(__name__)


def load_bars(
    source: str,
    tickers: Sequence[str],
    *,
    cache_dir: str | Path = "data/cache",
    refresh: bool = False,
    options: dict[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Validated daily bars per ticker from ``source``.

    Args:
        source: ``sample``, ``yfinance``, ``csv`` or ``parquet``.
        tickers: symbols to load (for a single-series file, the name to give it).
        cache_dir: where fetched yfinance data is cached.
        refresh: for yfinance, download even when the ticker is cached.
        options: source-specific keyword arguments (``path``, ``columns``,
            ``start``, ``end``, ``auto_adjust``, ...).

    Raises:
        MarketDataError: bad input data, naming the problem.
        MarketDataUnavailable: yfinance could not deliver a ticker that is not cached.
    """
    options = dict(options or {})
    if source == "sample":
        bars = sources.load_sample(tickers)
    elif source in ("csv", "parquet"):
        bars = sources.load_table(options.pop("path", ""), tickers=tickers, **options)
    elif source == "yfinance":
        bars = _load_yfinance(tickers, Path(cache_dir), refresh=refresh, options=options)
    else:
        raise sources.MarketDataError(
            f"Unknown data source {source!r}; choose one of {', '.join(SOURCES)}."
        )
    return {ticker: validate_bars(frame, ticker) for ticker, frame in bars.items()}


def _load_yfinance(
    tickers: Sequence[str], cache_dir: Path, *, refresh: bool, options: dict[str, Any]
) -> dict[str, pd.DataFrame]:
    cached = {ticker: cache.read_bars(cache_dir, ticker) for ticker in tickers}
    to_fetch = [ticker for ticker, frame in cached.items() if refresh or frame is None]
    fetched, failures = sources.fetch_yfinance(to_fetch, **options) if to_fetch else ({}, [])
    for ticker, bars in fetched.items():
        cache.write_bars(cache_dir, ticker, validate_bars(bars, ticker), source="yfinance")
    result: dict[str, pd.DataFrame] = {}
    for ticker in tickers:
        frame: pd.DataFrame | None = fetched.get(ticker)
        if frame is None:
            frame = cached[ticker]
        if frame is None:
            raise next(failure for failure in failures if failure.ticker == ticker)
        if ticker not in fetched and refresh:
            logger.warning(
                "Using cached %s up to %s: the refresh failed.", ticker, frame.index[-1].date()
            )
        result[ticker] = frame
    return result
