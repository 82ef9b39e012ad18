"""One call to get validated bars from any source, using the cache for fetched data."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fincast.data import sources
from fincast.data.report import ValidationReport
from fincast.data.sync import sync_yfinance
from fincast.data.universe import select_tickers
from fincast.data.validate import ValidationPolicy, validate_bars
from fincast.specs import SOURCES

if TYPE_CHECKING:
    from fincast.specs import DataSpec

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
        source: ``sample``, ``stocknet``, ``yfinance``, ``csv`` or ``parquet``.
        tickers: symbols to load (for a single-series file, the name to give it), or
            ``all`` and ``sector:<name>`` (:func:`fincast.data.universe.select_tickers`).
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
    tickers = select_tickers(source, tickers, cache_dir=cache_dir, options=options)
    if source == "sample":
        bars = sources.load_sample(tickers)
    elif source == "stocknet":
        bars = sources.load_stocknet(tickers)
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


def load_checked_bars(
    data: DataSpec, price: str = "adj_close"
) -> tuple[dict[str, pd.DataFrame], list[ValidationReport]]:
    """The bars of a job's ``data`` after its own data checks, and each ticker's report.

    ``data.on_invalid`` decides what a failed check does (raise, warn or repair),
    with the job's calendars and jump threshold, for every command alike:
    training, backtests and forecasts (the dashboard's quick training too).

    Args:
        data: the job's :class:`~fincast.specs.DataSpec`.
        price: the modelled price column, checked for suspicious jumps.
    """
    bars = load_bars(
        data.source,
        data.tickers,
        cache_dir=data.cache_dir,
        refresh=data.refresh,
        options=dict(data.options),
        strict=False,  # the job's own policy below decides: raise, warn or repair
    )
    policy = ValidationPolicy.of(data, price)
    checked = {ticker: policy.validate(frame, ticker) for ticker, frame in bars.items()}
    reports = [pair[1] for pair in checked.values()]
    if len(reports) > 1:
        logger.info("Market data checks: %s", checks_summary(reports))
    return {ticker: pair[0] for ticker, pair in checked.items()}, reports


def checks_summary(reports: Sequence[ValidationReport]) -> str:
    """One line over many tickers: each failed check, its days and its tickers.

    E.g. ``88 tickers (policy repair): missing_price 3 day(s) on 3 ticker(s) (PTR, REX,
    SNP); suspicious_jump 1 day(s) on 1 ticker(s) (AGFS)``; notes (stale opens, zero
    ranges) are counted in each report, not here.
    """
    days: dict[str, int] = {}
    tickers: dict[str, list[str]] = {}
    for report in reports:
        for found in report.errors + report.warnings:
            days[found.check] = days.get(found.check, 0) + found.count
            tickers.setdefault(found.check, []).append(report.ticker)
    policy = reports[0].policy if reports else None
    head = f"{len(reports)} tickers" + (f" (policy {policy})" if policy else "")
    if not days:
        return f"{head}: all checks passed."
    parts = []
    for check, count in days.items():
        names = tickers[check]
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        parts.append(f"{check} {count} day(s) on {len(names)} ticker(s) ({shown})")
    return f"{head}: {'; '.join(parts)}."


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
