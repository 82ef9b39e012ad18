"""validate_bars: each way daily bars can be unusable gives a precise MarketDataError."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from fincast.data.sources import MarketDataError
from fincast.data.validate import validate_bars

TICKER = "^TEST"
BAD_ROW = 3


def test_clean_bars_are_returned_unchanged(make_bars) -> None:
    bars = make_bars(10)
    assert validate_bars(bars, TICKER) is bars


def test_clean_bars_without_adj_close_and_zero_volume(make_bars) -> None:
    bars = make_bars(5, adj_close=False)
    bars["volume"] = 0.0
    validate_bars(bars, TICKER)


def test_bars_touching_high_and_low_are_valid(make_bars) -> None:
    bars = make_bars(4)
    bars["high"] = bars[["open", "close"]].max(axis=1)
    bars["low"] = bars[["open", "close"]].min(axis=1)
    validate_bars(bars, TICKER)


def _spoil(bars: pd.DataFrame, problem: str) -> pd.DataFrame:
    """Break row BAD_ROW (and, for some problems, a later row too)."""
    bars = bars.copy()
    row = bars.index[BAD_ROW]
    if problem == "nan_price":
        bars.loc[row, "close"] = np.nan
        bars.loc[bars.index[BAD_ROW + 2], "open"] = np.nan
    elif problem == "non_positive":
        bars.loc[row, "low"] = 0.0
        bars.loc[bars.index[BAD_ROW + 1], "close"] = -1.0
    elif problem == "low_above_close":
        bars.loc[row, "low"] = bars.loc[row, "close"] * 1.001
        bars.loc[row, "high"] = max(bars.loc[row, "high"], bars.loc[row, "low"])
    elif problem == "high_below_open":
        bars.loc[row, "high"] = bars.loc[row, "open"] * 0.999
        bars.loc[row, "low"] = min(bars.loc[row, ["low", "high", "close"]])
        bars.loc[row, "close"] = bars.loc[row, "low"]
    elif problem == "negative_volume":
        bars.loc[row, "volume"] = -5.0
    return bars


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        ("nan_price", "missing price"),
        ("non_positive", "non-positive price"),
        ("low_above_close", "low above"),
        ("high_below_open", "high below"),
        ("negative_volume", "negative volume"),
    ],
)
def test_value_problems_name_ticker_and_first_bad_date(make_bars, problem, words) -> None:
    bars = make_bars(10)
    spoiled = _spoil(bars, problem)
    first_bad = str(bars.index[BAD_ROW].date())
    with pytest.raises(MarketDataError) as caught:
        validate_bars(spoiled, TICKER)
    message = str(caught.value)
    assert TICKER in message
    assert words in message
    assert f"first on {first_bad}" in message


def test_count_of_bad_days_is_reported(make_bars) -> None:
    bars = make_bars(10)
    bars.loc[bars.index[[2, 5, 7]], "volume"] = -1.0
    expected = re.escape("negative volume on 3 day(s), first on 2024-01-04")
    with pytest.raises(MarketDataError, match=expected):
        validate_bars(bars, TICKER)


def test_nan_high_is_reported_as_missing_not_as_range_error(make_bars) -> None:
    bars = make_bars(6)
    bars.loc[bars.index[1], "high"] = np.nan
    with pytest.raises(MarketDataError, match="missing price"):
        validate_bars(bars, TICKER)


def test_duplicated_date(make_bars) -> None:
    bars = make_bars(6)
    index = list(bars.index)
    index[4] = index[3]
    bars.index = pd.DatetimeIndex(index, name="date")
    with pytest.raises(MarketDataError) as caught:
        validate_bars(bars, TICKER)
    message = str(caught.value)
    assert TICKER in message and "duplicated date" in message
    assert str(index[3].date()) in message


def test_unsorted_dates_name_ticker(make_bars) -> None:
    bars = make_bars(6).iloc[[0, 1, 3, 2, 4, 5]]
    expected = re.escape(f"{TICKER}: dates are not in increasing order")
    with pytest.raises(MarketDataError, match=expected):
        validate_bars(bars, TICKER)


def test_unsorted_dates_name_first_out_of_order_date(make_bars) -> None:
    bars = make_bars(6)
    shuffled = bars.iloc[[0, 1, 3, 2, 4, 5]]
    # 2024-01-04 (row 2 of the original) is the first date earlier than its predecessor.
    with pytest.raises(MarketDataError, match=str(bars.index[2].date())):
        validate_bars(shuffled, TICKER)


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "volume"])
def test_missing_column(make_bars, column: str) -> None:
    bars = make_bars(5).drop(columns=column)
    with pytest.raises(MarketDataError) as caught:
        validate_bars(bars, TICKER)
    message = str(caught.value)
    assert TICKER in message
    assert f"missing column(s) {column}" in message
    assert "found" in message and "adj_close" in message


@pytest.mark.parametrize(("rows", "min_rows"), [(0, 2), (1, 2), (4, 5)])
def test_too_few_rows(make_bars, rows: int, min_rows: int) -> None:
    bars = make_bars(max(rows, 1)).iloc[:rows]
    expected = re.escape(f"{TICKER}: {rows} rows, need at least {min_rows}.")
    with pytest.raises(MarketDataError, match=expected):
        validate_bars(bars, TICKER, min_rows=min_rows)


def test_enough_rows_at_the_minimum(make_bars) -> None:
    validate_bars(make_bars(5), TICKER, min_rows=5)


def test_missing_volume_is_rejected(make_bars) -> None:
    bars = make_bars(6)
    bars.loc[bars.index[BAD_ROW], "volume"] = np.nan
    with pytest.raises(MarketDataError, match=str(bars.index[BAD_ROW].date())):
        validate_bars(bars, TICKER)
