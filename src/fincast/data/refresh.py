"""What to download for a cached ticker, and how to merge it in without losing rows.

``data.refresh`` policies:

* ``never``: serve the cache only; a ticker that is not cached is an error.
* ``missing`` (default): download only what the cache lacks: the days after the last
  cached bar, starting ``overlap_days`` cached bars earlier to pick up revised bars.
  If the requested ``start`` is earlier than what the cache covers, download it all.
* ``always``: download the whole range again.

Two rules keep adjusted prices consistent. A cache written with another
``auto_adjust`` or ``interval`` is replaced by a full download, never merged.
And if the overlap shows that Yahoo re-adjusted the history (a split or a dividend
changes every earlier adjusted price), the incremental download is replaced by a full
one. A full download spans the cached range too, so a merge never keeps stale rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from fincast.data.sources import MarketDataError

REFRESH_POLICIES = ("never", "missing", "always")
DEFAULT_OVERLAP_DAYS = 5
REBASE_TOLERANCE = 1e-4


def check_refresh(value: object) -> str:
    """``value`` if it is a refresh policy, else an error listing the policies."""
    if isinstance(value, str) and value in REFRESH_POLICIES:
        return value
    raise MarketDataError(
        f"data.refresh must be one of {', '.join(REFRESH_POLICIES)}. Received: {value!r}"
    )


@dataclass(frozen=True)
class Mode:
    """The request facts a cached file must share to be merged with a new download."""

    start: str | None
    end: str | None
    interval: str = "1d"
    auto_adjust: bool = False


@dataclass(frozen=True)
class Plan:
    """One ticker's refresh: ``fetch`` False means serve the cache as it is."""

    fetch: bool
    start: str | None = None
    end: str | None = None
    incremental: bool = False
    replace: bool = False
    covered_from: str | None = None
    reason: str = ""


def mode_mismatch(metadata: dict[str, Any], mode: Mode) -> str:
    """Why the cached file cannot be merged with a download in ``mode`` ('' if it can)."""
    for key in ("auto_adjust", "interval"):
        cached, wanted = metadata.get(key, "unknown"), getattr(mode, key)
        if cached != wanted:
            return f"the cache holds {key}={cached}, the request {key}={wanted}"
    return ""


def _earlier(first: str | None, second: str | None) -> str | None:
    return None if first is None or second is None else min(first, second)


def full_plan(cached: pd.DataFrame | None, mode: Mode, reason: str, replace: bool) -> Plan:
    """Download everything requested and, unless replacing, everything cached."""
    if cached is None or replace:
        return Plan(True, mode.start, mode.end, False, replace, mode.start, reason)
    first = str(cached.index[0].date())
    after_last = str((cached.index[-1] + pd.Timedelta(days=1)).date())
    end = None if mode.end is None else max(mode.end, after_last)
    start = _earlier(mode.start, first)
    return Plan(True, start, end, False, False, start, reason)


def plan_refresh(
    policy: str,
    mode: Mode,
    cached: pd.DataFrame | None,
    metadata: dict[str, Any] | None,
    *,
    overlap_days: int = DEFAULT_OVERLAP_DAYS,
) -> Plan:
    """Decide what to download for one ticker (see the module docstring)."""
    if cached is None or cached.empty:
        return full_plan(None, mode, "not cached", replace=True)
    metadata = metadata or {}
    if policy == "never":
        return Plan(False, reason="data.refresh=never")
    mismatch = mode_mismatch(metadata, mode)
    if mismatch:
        return full_plan(cached, mode, mismatch, replace=True)
    if policy == "always":
        return full_plan(cached, mode, "data.refresh=always", replace=False)
    covered = metadata.get("covered_from", str(cached.index[0].date()))
    if covered is not None and (mode.start is None or mode.start < covered):
        return full_plan(cached, mode, f"start {mode.start} is before {covered}", replace=False)
    last = cached.index[-1]
    if mode.end is not None and last >= pd.Timestamp(mode.end) - pd.Timedelta(days=1):
        return Plan(False, reason=f"the cache reaches the end {mode.end}")
    start = str(cached.index[-min(max(overlap_days, 1), len(cached))].date())
    reason = f"new bars after {last.date()}"
    return Plan(True, start, mode.end, True, False, covered, reason)


def merge_bars(cached: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    """Cached rows outside the fetched date span, plus every fetched row (new rows win).

    Rows inside the span come from the download only, so revised bars replace
    old ones; rows outside it are always kept.
    """
    if fetched.empty:
        return cached
    outside = (cached.index < fetched.index[0]) | (cached.index > fetched.index[-1])
    kept = cached[outside]
    merged = pd.concat([kept, fetched]) if len(kept) else fetched.copy()
    return merged.sort_index()


def rebased(
    cached: pd.DataFrame, fetched: pd.DataFrame, tolerance: float = REBASE_TOLERANCE
) -> bool:
    """True when the prices both frames hold for the same days differ by a common factor.

    A split or dividend makes Yahoo re-adjust all earlier prices, so the overlap's
    median ratio moves away from 1; one revised bar does not move the median.
    """
    common = cached.index.intersection(fetched.index)
    if len(common) == 0:
        return False
    for column in ("close", "adj_close"):
        if column in cached.columns and column in fetched.columns:
            ratio = fetched.loc[common, column].to_numpy() / cached.loc[common, column].to_numpy()
            if abs(float(np.nanmedian(ratio)) - 1.0) > tolerance:
                return True
    return False


def within(bars: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    """The rows of ``bars`` from ``start`` (inclusive) to ``end`` (exclusive)."""
    mask = np.ones(len(bars), dtype=bool)
    if start is not None:
        mask &= bars.index >= pd.Timestamp(start)
    if end is not None:
        mask &= bars.index < pd.Timestamp(end)
    return bars if mask.all() else bars[mask]


def staleness_days(last: pd.Timestamp, today: date | None = None) -> int:
    """Calendar days from the last bar to ``today`` (default: today's local date)."""
    return ((today or date.today()) - last.date()).days
