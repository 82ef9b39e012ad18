"""Refresh planning and merging: what to download, and never losing cached rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fincast.data.refresh import (
    Mode,
    check_refresh,
    merge_bars,
    plan_refresh,
    rebased,
    staleness_days,
    within,
)
from fincast.data.sources import MarketDataError

META = {"auto_adjust": False, "interval": "1d", "covered_from": "2024-01-01"}
MODE = Mode(start="2024-01-01", end=None)


def test_check_refresh() -> None:
    assert [check_refresh(name) for name in ("never", "missing", "always")] == [
        "never",
        "missing",
        "always",
    ]
    with pytest.raises(MarketDataError, match=r"never, missing, always. Received: True"):
        check_refresh(True)


def test_not_cached_is_a_full_download(make_bars) -> None:
    plan = plan_refresh("missing", MODE, None, None)
    assert plan.fetch and plan.start == "2024-01-01" and plan.end is None
    assert not plan.incremental and plan.covered_from == "2024-01-01"


def test_never_serves_the_cache(make_bars) -> None:
    assert not plan_refresh("never", MODE, make_bars(10), META).fetch


def test_missing_fetches_from_overlap_bars_before_the_last(make_bars) -> None:
    cached = make_bars(20, start="2024-01-02")
    plan = plan_refresh("missing", MODE, cached, META, overlap_days=5)
    assert plan.fetch and plan.incremental and not plan.replace
    assert plan.start == str(cached.index[-5].date())
    assert plan.covered_from == "2024-01-01"


def test_overlap_larger_than_the_cache_starts_at_its_first_bar(make_bars) -> None:
    cached = make_bars(3, start="2024-01-02")
    plan = plan_refresh("missing", MODE, cached, META, overlap_days=10)
    assert plan.start == "2024-01-02"


def test_missing_with_earlier_start_downloads_everything(make_bars) -> None:
    cached = make_bars(20, start="2024-01-02")
    plan = plan_refresh("missing", Mode("2020-01-01", None), cached, META)
    assert plan.fetch and not plan.incremental and plan.start == "2020-01-01"


def test_missing_without_start_after_a_dated_cache_downloads_everything(make_bars) -> None:
    plan = plan_refresh("missing", Mode(None, None), make_bars(20), META)
    assert plan.fetch and not plan.incremental and plan.start is None


def test_missing_with_end_inside_the_cache_needs_nothing(make_bars) -> None:
    cached = make_bars(20, start="2024-01-02")
    plan = plan_refresh("missing", Mode("2024-01-01", "2024-01-10"), cached, META)
    assert not plan.fetch


@pytest.mark.parametrize(
    ("key", "value"), [("auto_adjust", True), ("interval", "1wk"), ("auto_adjust", None)]
)
def test_changed_adjustment_or_interval_replaces_the_cache(make_bars, key, value) -> None:
    metadata = dict(META)
    if value is None:
        del metadata[key]  # a file written before fincast recorded the mode
    else:
        metadata[key] = value
    plan = plan_refresh("missing", MODE, make_bars(20), metadata)
    assert plan.fetch and plan.replace and not plan.incremental
    assert key in plan.reason


def test_always_downloads_the_union_of_cached_and_requested(make_bars) -> None:
    cached = make_bars(20, start="2023-06-01")
    plan = plan_refresh("always", Mode("2024-01-01", "2024-02-01"), cached, META)
    assert plan.fetch and not plan.replace and not plan.incremental
    assert plan.start == "2023-06-01"  # the cache's first bar: re-downloaded too
    assert plan.end == "2024-02-01"


def test_merge_new_rows_win_and_outside_rows_stay(make_bars) -> None:
    cached = make_bars(10, start="2024-01-01", seed=1)
    fetched = make_bars(6, start=str(cached.index[7].date()), seed=2)
    merged = merge_bars(cached, fetched)
    assert merged.index.is_unique and merged.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(merged.loc[cached.index[:7]], cached.iloc[:7])
    pd.testing.assert_frame_equal(merged.loc[fetched.index], fetched, check_freq=False)
    assert len(merged) == 7 + 6


def test_merge_drops_cached_bars_inside_the_span_that_yahoo_no_longer_has(make_bars) -> None:
    cached = make_bars(10, start="2024-01-01")
    fetched = cached.iloc[[4, 6]] * 1.0
    merged = merge_bars(cached, fetched)
    assert cached.index[5] not in merged.index
    assert len(merged) == 10 - 1


@settings(max_examples=60, deadline=None)
@given(
    cached_start=st.integers(0, 40),
    cached_rows=st.integers(1, 40),
    fetched_start=st.integers(0, 60),
    fetched_rows=st.integers(1, 40),
)
def test_merge_never_loses_rows_outside_the_fetched_span(
    cached_start: int, cached_rows: int, fetched_start: int, fetched_rows: int
) -> None:
    days = pd.bdate_range("2024-01-01", periods=120, name="date")
    cached = pd.DataFrame(
        {"close": np.arange(cached_rows, dtype=float) + 1.0},
        index=days[cached_start : cached_start + cached_rows],
    )
    fetched = pd.DataFrame(
        {"close": -np.arange(fetched_rows, dtype=float) - 1.0},
        index=days[fetched_start : fetched_start + fetched_rows],
    )
    merged = merge_bars(cached, fetched)
    outside = cached[(cached.index < fetched.index[0]) | (cached.index > fetched.index[-1])]
    pd.testing.assert_frame_equal(merged.loc[outside.index], outside, check_freq=False)
    pd.testing.assert_frame_equal(merged.loc[fetched.index], fetched, check_freq=False)
    assert merged.index.is_unique and merged.index.is_monotonic_increasing
    assert set(merged.index) == set(outside.index) | set(fetched.index)


def test_rebased_detects_a_split_or_dividend_in_the_overlap(make_bars) -> None:
    cached = make_bars(10)
    revised = cached.iloc[-5:].copy()
    assert not rebased(cached, revised)
    revised.iloc[-1, revised.columns.get_loc("close")] *= 1.03  # one revised bar
    assert not rebased(cached, revised)
    dividend = cached.iloc[-5:].copy()
    dividend["adj_close"] *= 0.995  # every earlier adjusted price moves
    assert rebased(cached, dividend)
    split = cached.iloc[-5:].copy()
    split[["open", "high", "low", "close"]] /= 2
    assert rebased(cached, split)
    assert not rebased(cached, make_bars(3, start="2030-01-01"))  # no overlap


def test_within_is_start_inclusive_end_exclusive(make_bars) -> None:
    bars = make_bars(10, start="2024-01-01")
    sliced = within(bars, "2024-01-03", "2024-01-08")
    assert [str(day.date()) for day in sliced.index] == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert within(bars, None, None) is bars


def test_staleness_days() -> None:
    assert staleness_days(pd.Timestamp("2024-01-05"), date(2024, 1, 8)) == 3
