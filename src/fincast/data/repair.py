"""The cleaning policy of ``data.on_invalid=repair``, step by step.

1. Duplicate dates: keep the last row of each date (a re-download's correction
   comes last), drop the others.
2. Sort by date.
3. Drop rows with a missing or non-positive price (open, high, low, close,
   adj_close) or a missing or negative volume: such a row cannot be trusted.
4. Clip the range: ``high`` is raised to ``max(open, close)`` and ``low`` lowered
   to ``min(open, close)`` where they do not contain them.
5. Drop days that are not sessions of the exchange's calendar.

Nothing is ever forward-filled (N = 0 days): a filled bar would invent a zero
return, a zero range and a zero volume that the features and the model would learn
from. Missing sessions stay missing and are reported; the next return then spans
the gap. Suspicious jumps are reported, never changed: one ratio cannot tell a
split from a crash; use adjusted prices (``adj_close``) for split-adjusted series.
"""

from __future__ import annotations

import pandas as pd

from fincast.data import calendars

PRICES = ("open", "high", "low", "close", "adj_close")


def repair_bars(
    bars: pd.DataFrame, *, calendar: str | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Clean ``bars`` by the module's policy; the input is not modified.

    Returns:
        The cleaned bars, and the rows changed per check (the check names of
        :data:`fincast.data.report.CHECKS`).
    """
    changes: dict[str, int] = {}
    duplicated = bars.index.duplicated(keep="last")
    changes["duplicate_dates"] = int(duplicated.sum())
    repaired = bars[~duplicated]
    index = repaired.index
    changes["unsorted_dates"] = int((index[1:] < index[:-1]).sum())
    repaired = repaired.sort_index(kind="stable")
    repaired, dropped = _drop_bad_rows(repaired)
    changes.update(dropped)
    repaired, clipped = _clip_range(repaired)
    changes.update(clipped)
    if calendar:
        _, extra = calendars.session_gaps(pd.DatetimeIndex(repaired.index), calendar)
        keep = ~pd.DatetimeIndex(repaired.index).normalize().isin(extra)
        changes["extra_sessions"] = int((~keep).sum())
        repaired = repaired[keep]
    return repaired, changes


def _drop_bad_rows(bars: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    prices = bars[[column for column in PRICES if column in bars.columns]]
    missing_price = prices.isna().any(axis=1)
    non_positive = (prices <= 0).any(axis=1) & ~missing_price
    earlier = missing_price | non_positive
    missing_volume = bars["volume"].isna() & ~earlier
    negative_volume = (bars["volume"] < 0) & ~earlier
    drop = earlier | missing_volume | negative_volume
    changes = {
        "missing_price": int(missing_price.sum()),
        "non_positive_price": int(non_positive.sum()),
        "missing_volume": int(missing_volume.sum()),
        "negative_volume": int(negative_volume.sum()),
    }
    return bars[~drop], changes


def _clip_range(bars: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    top = bars[["open", "close"]].max(axis=1)
    bottom = bars[["open", "close"]].min(axis=1)
    high_low = bars["high"] < top
    low_high = bars["low"] > bottom
    clipped = bars.copy()
    clipped["high"] = bars["high"].where(~high_low, top)
    clipped["low"] = bars["low"].where(~low_high, bottom)
    return clipped, {
        "high_below_open_close": int(high_low.sum()),
        "low_above_open_close": int(low_high.sum()),
    }
