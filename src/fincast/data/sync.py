"""Keep the Parquet cache of yfinance tickers up to date, one ticker at a time.

For each ticker: read the cache, plan the download (:mod:`fincast.data.refresh`),
fetch with retries (:mod:`fincast.data.yahoo`), then, under the ticker's lock,
re-read the cache, merge, validate and write. A failed download leaves the cache as
it was and serves it with a warning that says how stale it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.data import cache
from fincast.data.refresh import (
    DEFAULT_OVERLAP_DAYS,
    Mode,
    Plan,
    check_refresh,
    full_plan,
    merge_bars,
    plan_refresh,
    rebased,
    staleness_days,
    within,
)
from fincast.data.sources import MarketDataError, MarketDataUnavailable
from fincast.data.tickers import check_ticker, check_tickers
from fincast.data.validate import validate_bars
from fincast.data.yahoo import Reply, YahooClient, YahooRequest

logger = logging.getLogger(__name__)


@dataclass
class TickerOutcome:
    """What happened to one ticker: ``status`` is fetched, updated, cached, stale or failed."""

    ticker: str
    status: str
    bars: pd.DataFrame | None = None
    error: Exception | None = None
    today: date = field(default_factory=date.today)

    @property
    def age_days(self) -> int | None:
        """Calendar days since the last bar, or None without bars."""
        if self.bars is None or self.bars.empty:
            return None
        return staleness_days(self.bars.index[-1], self.today)


def _rebased(cached: pd.DataFrame | None, reply: Reply) -> bool:
    return cached is not None and reply.bars is not None and rebased(cached, reply.bars)


@dataclass
class Syncer:
    """Refreshes cached tickers with one request, policy and client."""

    cache_dir: Path
    refresh: str
    request: YahooRequest
    client: YahooClient
    overlap_days: int = DEFAULT_OVERLAP_DAYS
    today: date = field(default_factory=date.today)

    @property
    def mode(self) -> Mode:
        """The request facts that a cached file must match."""
        request = self.request
        return Mode(request.start, request.end, request.interval, request.auto_adjust)

    def sync(self, ticker: str) -> TickerOutcome:
        """Bring one ticker's cache up to date (never raises for expected failures)."""
        try:
            return self._sync(ticker)
        except (MarketDataError, MarketDataUnavailable) as error:
            return TickerOutcome(ticker, "failed", error=error, today=self.today)

    def _sync(self, ticker: str) -> TickerOutcome:
        check_ticker(ticker)
        cached = cache.read_bars(self.cache_dir, ticker)
        metadata = cache.read_metadata(self.cache_dir, ticker)
        if cached is None and self.refresh == "never":
            raise MarketDataUnavailable(
                ticker,
                f"not in the cache {str(self.cache_dir)!r} and data.refresh=never",
                "Fetch it first (fincast-fetch) or set data.refresh=missing.",
                kind="not_cached",
            )
        plan = plan_refresh(
            self.refresh, self.mode, cached, metadata, overlap_days=self.overlap_days
        )
        if not plan.fetch:
            assert cached is not None
            return self._outcome(ticker, "cached", cached)
        reply = self.client.fetch(ticker, start=plan.start, end=plan.end)
        if plan.incremental and _rebased(cached, reply):
            logger.info("%s: Yahoo re-adjusted the history; downloading all of it.", ticker)
            plan = full_plan(cached, self.mode, "re-adjusted history", replace=False)
            reply = self.client.fetch(ticker, start=plan.start, end=plan.end)
        if reply.bars is None:
            return self._fallback(ticker, cached, reply)
        return self._store(ticker, reply.bars, plan, "updated" if plan.incremental else "fetched")

    def _fallback(self, ticker: str, cached: pd.DataFrame | None, reply: Reply) -> TickerOutcome:
        failure = reply.failure()
        if cached is None:
            return TickerOutcome(ticker, "failed", error=failure, today=self.today)
        last = cached.index[-1]
        logger.warning(
            "Using cached %s up to %s (%d days old): the refresh failed: %s",
            ticker,
            last.date(),
            staleness_days(last, self.today),
            failure.cause,
        )
        return self._outcome(ticker, "stale", cached, error=failure)

    def _store(self, ticker: str, fetched: pd.DataFrame, plan: Plan, status: str) -> TickerOutcome:
        fetched_at = datetime.now(UTC).isoformat(timespec="seconds")
        with cache.locked(self.cache_dir, ticker):
            current = None if plan.replace else cache.read_bars(self.cache_dir, ticker)
            merged = fetched if current is None else merge_bars(current, fetched)
            merged = validate_bars(merged, ticker)
            cache.write_bars(
                self.cache_dir,
                ticker,
                merged,
                source="yfinance",
                metadata={
                    "fetched_at": fetched_at,
                    "auto_adjust": self.request.auto_adjust,
                    "interval": self.request.interval,
                    "covered_from": plan.covered_from,
                    "refresh": plan.reason,
                },
            )
        return self._outcome(ticker, status, merged)

    def _outcome(
        self, ticker: str, status: str, bars: pd.DataFrame, error: Exception | None = None
    ) -> TickerOutcome:
        served = within(bars, self.request.start, self.request.end)
        return TickerOutcome(ticker, status, served, error, self.today)


def make_syncer(
    cache_dir: str | Path,
    *,
    refresh: str = "missing",
    options: dict[str, Any] | None = None,
    today: date | None = None,
) -> Syncer:
    """A :class:`Syncer` from ``data.options`` of the yfinance source.

    Besides the :class:`~fincast.data.yahoo.YahooRequest` keys, ``options`` may hold
    ``overlap_days`` and, for tests, ``download`` and ``sleep``.

    Raises:
        MarketDataError: a bad option or refresh policy, naming it.
    """
    options = dict(options or {})
    overlap = options.pop("overlap_days", DEFAULT_OVERLAP_DAYS)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 1:
        raise MarketDataError(
            f"data.options.overlap_days must be a whole number >= 1. Received: {overlap!r}"
        )
    download = options.pop("download", None)
    sleep: Callable[[float], None] = options.pop("sleep", time.sleep)
    request = YahooRequest.from_options(options)
    client = YahooClient(request, download=download, sleep=sleep)
    return Syncer(
        Path(cache_dir), check_refresh(refresh), request, client, overlap, today or date.today()
    )


def sync_yfinance(
    tickers: Sequence[str],
    *,
    cache_dir: str | Path,
    refresh: str = "missing",
    options: dict[str, Any] | None = None,
    on_outcome: Callable[[TickerOutcome], None] | None = None,
    today: date | None = None,
) -> list[TickerOutcome]:
    """Refresh and read every ticker; one failure never stops the others.

    Args:
        tickers: Yahoo symbols.
        cache_dir: the Parquet cache.
        refresh: ``never``, ``missing`` or ``always`` (see :mod:`fincast.data.refresh`).
        options: ``data.options`` (start, end, interval, auto_adjust, retry, overlap_days).
        on_outcome: called after each ticker (progress reporting).
        today: the date staleness is measured against (default: today).

    Returns:
        One outcome per ticker, in order.

    Raises:
        MarketDataError: a malformed ticker, option or refresh policy, before anything
            is read, fetched or written.
    """
    tickers = check_tickers(tickers)
    syncer = make_syncer(cache_dir, refresh=refresh, options=options, today=today)
    outcomes = []
    for ticker in tickers:
        outcome = syncer.sync(ticker)
        if on_outcome is not None:
            on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes
