"""One call to get validated bars from any source, using the cache for fetched data."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.data import sources
from fincast.data.sync import sync_yfinance
from fincast.data.validate import validate_bars

SOURCES = ("sample", "yfinance", "csv", "parquet")
logger = logging.getLogger(__name__)


def load_bars(
    source: str,
    tickers: Sequence[str],
    *,
    cache_dir: str | Path = "data/cache",
    refresh: str = "missing",
    options: dict[str, Any] | None = None,
    strict: bool = True,
) -> dict[str, pd.DataFrame]:
    """Validated daily bars per ticker from ``source``.

    Args:
        source: ``sample``, ``yfinance``, ``csv`` or ``parquet``.
        tickers: symbols to load (for a single-series file, the name to give it).
        cache_dir: where fetched yfinance data is cached.
        refresh: for yfinance, ``never`` (cache only), ``missing`` (download the bars
            the cache lacks) or ``always`` (download everything again); see
            :mod:`fincast.data.refresh`.
        options: source-specific keyword arguments (``path``, ``columns``,
            ``start``, ``end``, ``interval``, ``auto_adjust``, ``retry``, ...).
        strict: run :func:`~fincast.data.validate.validate_bars` on every ticker; pass
            ``False`` when the caller applies its own ``data.on_invalid`` policy
            (:class:`~fincast.data.validate.ValidationPolicy`).

    Raises:
        MarketDataError: bad input data or options, naming the problem.
        MarketDataUnavailable: yfinance could not deliver a ticker that is not cached
            (raised after the tickers that worked were cached).
    """
    options = dict(options or {})
    if source == "sample":
        bars = sources.load_sample(tickers)
    elif source in ("csv", "parquet"):
        bars = sources.load_table(options.pop("path", ""), tickers=tickers, **options)
    elif source == "yfinance":
        return _load_yfinance(tickers, cache_dir, refresh=refresh, options=options, strict=strict)
    else:
        raise sources.MarketDataError(
            f"Unknown data source {source!r}; choose one of {', '.join(SOURCES)}."
        )
    if not strict:
        return bars
    return {ticker: validate_bars(frame, ticker) for ticker, frame in bars.items()}


def _load_yfinance(
    tickers: Sequence[str],
    cache_dir: str | Path,
    *,
    refresh: str,
    options: dict[str, Any],
    strict: bool,
) -> dict[str, pd.DataFrame]:
    outcomes = sync_yfinance(tickers, cache_dir=cache_dir, refresh=refresh, options=options)
    bars: dict[str, pd.DataFrame] = {}
    for outcome in outcomes:
        if outcome.bars is None:
            raise outcome.error or sources.MarketDataError(f"No bars for {outcome.ticker!r}.")
        bars[outcome.ticker] = (
            validate_bars(outcome.bars, outcome.ticker) if strict else outcome.bars
        )
    return bars
