"""Market-data checks: precise errors, a report per check, and the raise/warn/repair policies."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fincast.data.calendars import sessions_between
from fincast.data.report import CHECKS, REPORT_COLUMNS, reports_frame
from fincast.data.sources import MarketDataError
from fincast.data.validate import (
    ValidationPolicy,
    apply_policy,
    check_bars,
    validate,
    validate_bars,
)

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


# --- check_bars / apply_policy / repair: the report of every check, and the three policies


def _session_bars(rows: int = 30, *, calendar: str = "XNYS", seed: int = 0) -> pd.DataFrame:
    """Clean bars on exactly the sessions of ``calendar`` from 2024-01-02."""
    sessions = sessions_between(calendar, pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31"))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, rows)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, rows))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "adj_close": close * 0.98,
            "volume": rng.integers(1_000_000, 2_000_000, rows).astype("float64"),
        },
        index=pd.DatetimeIndex(sessions[:rows], name="date"),
    )


def test_clean_session_bars_pass_every_check() -> None:
    report = check_bars(_session_bars(), TICKER)
    assert report.ok and not report.warnings
    assert set(report.counts()) == set(CHECKS) and not any(report.counts().values())
    frame = report.to_frame()
    assert list(frame["check"]) == list(CHECKS)
    assert list(frame.columns) == list(REPORT_COLUMNS)
    assert report.summary() == f"{TICKER}: 30 rows, all checks passed."


def test_report_counts_every_problem_not_just_the_first() -> None:
    bars = _session_bars()
    bars.loc[bars.index[[2, 9]], "volume"] = -1.0
    bars.loc[bars.index[4], "close"] = np.nan
    bars.loc[bars.index[6], "high"] = bars.loc[bars.index[6], "close"] * 0.9
    counts = check_bars(bars, TICKER).counts()
    assert counts["negative_volume"] == 2
    assert counts["missing_price"] == 1
    assert counts["high_below_open_close"] == 1
    # A missing close is only a missing price, never also a range error.
    assert counts["low_above_open_close"] == 0


def test_duplicates_and_unsorted_rows_are_counted() -> None:
    bars = _session_bars(10)
    shuffled = pd.concat([bars.iloc[[0, 1, 3, 2]], bars.iloc[[3, 3]], bars.iloc[4:]])
    report = check_bars(shuffled, TICKER)
    assert report.counts()["duplicate_dates"] == 2
    assert report.counts()["unsorted_dates"] == 1
    assert report.findings["duplicate_dates"].dates == (str(bars.index[3].date()),)


def test_missing_and_extra_sessions_name_their_dates() -> None:
    bars = _session_bars(30)
    without = bars.drop(index=bars.index[[5, 7]])
    saturday = pd.Timestamp("2024-01-13")
    extra_row = bars.iloc[[8]].set_axis(pd.DatetimeIndex([saturday], name="date"))
    spoiled = pd.concat([without, extra_row]).sort_index()
    report = check_bars(spoiled, TICKER)
    missing = report.findings["missing_sessions"]
    assert missing.count == 2
    assert missing.dates == tuple(str(day.date()) for day in bars.index[[5, 7]])
    assert report.findings["extra_sessions"].dates == ("2024-01-13",)
    assert report.findings["missing_sessions"].spec.severity == "warning"
    assert [found.check for found in report.errors] == ["extra_sessions"]


def test_holiday_is_extra_on_new_york_but_fine_on_london() -> None:
    bars = _session_bars(200, calendar="XLON")
    assert pd.Timestamp("2024-07-04") in bars.index  # a London session, a New York holiday
    policy = ValidationPolicy(calendar="XNYS", calendars={"VOD.L": "XLON"})
    assert policy.calendar_of("VOD.L") == "XLON" and policy.calendar_of("AAPL") == "XNYS"
    london = check_bars(bars, "VOD.L", calendar=policy.calendar_of("VOD.L"))
    new_york = check_bars(bars.loc["2024-07-01":"2024-07-10"], "AAPL", calendar="XNYS")
    assert london.counts()["extra_sessions"] == 0
    assert new_york.findings["extra_sessions"].dates == ("2024-07-04",)


def test_no_calendar_skips_session_checks() -> None:
    bars = _session_bars(10)
    bars.index = pd.date_range("2024-01-06", periods=10, name="date")  # weekends included
    report = check_bars(bars, TICKER, calendar=None)
    assert report.ok and report.calendar is None


@pytest.mark.parametrize(
    ("factor", "flagged"), [(1.39, False), (1.41, True), (1 / 1.39, False), (1 / 1.41, True)]
)
def test_jump_bound_is_symmetric_in_log_terms(factor: float, flagged: bool) -> None:
    bars = _session_bars(20)
    prices = ["open", "high", "low", "close", "adj_close"]
    bars.loc[bars.index[10] :, prices] *= factor
    # build_bars' own daily moves are ~1 %: scale the jump day exactly to `factor`.
    ratio = bars["adj_close"].iloc[10] / bars["adj_close"].iloc[9]
    bars.loc[bars.index[10] :, prices] *= factor / ratio
    report = check_bars(bars, TICKER, max_daily_move=0.4)
    assert report.counts()["suspicious_jump"] == int(flagged)
    if flagged:
        assert report.findings["suspicious_jump"].dates == (str(bars.index[10].date()),)
        assert report.ok  # a warning: reported, never an error


def test_unadjusted_split_in_close_is_not_flagged_when_adj_close_is_smooth() -> None:
    bars = _session_bars(20)
    bars.loc[bars.index[10] :, ["open", "high", "low", "close"]] /= 2  # 2:1 split, raw prices
    assert check_bars(bars, TICKER).counts()["suspicious_jump"] == 0
    assert check_bars(bars, TICKER, price="close").counts()["suspicious_jump"] == 1
    assert check_bars(bars, TICKER, price="close", max_daily_move=None).ok


def test_raise_gives_one_line_naming_every_error() -> None:
    bars = _session_bars()
    bars.loc[bars.index[3], "volume"] = -1.0
    bars.loc[bars.index[5], "low"] = 0.0
    report = check_bars(bars, TICKER)
    with pytest.raises(MarketDataError) as caught:
        apply_policy(bars, report, "raise")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{TICKER}: non-positive price on 1 day(s), first on")
    assert "negative volume on 1 day(s)" in message and "data.on_invalid=repair" in message


def test_raise_lets_warnings_through(caplog) -> None:
    bars = _session_bars().drop(index=_session_bars().index[4])
    report = check_bars(bars, TICKER)
    with caplog.at_level("WARNING", logger="fincast.data.validate"):
        assert apply_policy(bars, report, "raise") is bars
    assert "trading session missing on 1 day(s)" in caplog.text


def test_warn_logs_and_returns_the_bars_unchanged(caplog) -> None:
    bars = _session_bars()
    bars.loc[bars.index[3], "volume"] = -1.0
    with caplog.at_level("WARNING", logger="fincast.data.validate"):
        checked, report = validate(bars, TICKER, on_invalid="warn")
    assert checked is bars and report.policy == "warn" and not report.repairs
    assert f"{TICKER}: negative volume on 1 day(s)" in caplog.text


def test_repair_reports_what_it_changed() -> None:
    bars = _session_bars(30)
    spoiled = bars.copy()
    spoiled.loc[spoiled.index[3], "volume"] = -1.0
    spoiled.loc[spoiled.index[6], "high"] = spoiled.loc[spoiled.index[6], "close"] * 0.9
    spoiled = pd.concat([spoiled, spoiled.iloc[[10]] * 1.001]).sort_index(kind="stable")
    repaired, report = validate(spoiled, TICKER, on_invalid="repair")
    assert report.repairs["negative_volume"] == 1
    assert report.repairs["high_below_open_close"] == 1
    assert report.repairs["duplicate_dates"] == 1
    assert report.rows_after == len(repaired) == 29
    # The last row of a duplicated date wins.
    assert repaired.loc[bars.index[10], "close"] == pytest.approx(bars["close"].iloc[10] * 1.001)
    fixed = repaired.loc[bars.index[6]]
    assert fixed["high"] == max(fixed["open"], fixed["close"])
    frame = report.to_frame().set_index("check")
    assert frame.loc["negative_volume", "action"] == "row dropped"
    assert frame.loc["missing_sessions", "action"] == ""
    assert "Repaired (" in report.summary() and "29 rows left" in report.summary()
    assert check_bars(repaired, TICKER).ok


def test_repair_drops_non_sessions_and_never_fills_gaps() -> None:
    bars = _session_bars(30)
    gappy = bars.drop(index=bars.index[[4, 5, 6]])
    weekend = bars.iloc[[7]].set_axis(pd.DatetimeIndex(["2024-01-13"], name="date"))
    spoiled = pd.concat([gappy, weekend]).sort_index()
    repaired, report = validate(spoiled, TICKER, on_invalid="repair")
    assert report.repairs["extra_sessions"] == 1
    pd.testing.assert_frame_equal(repaired, gappy)
    assert check_bars(repaired, TICKER).counts()["missing_sessions"] == 3


def test_repair_leaving_too_few_rows_raises() -> None:
    bars = _session_bars(3)
    bars["close"] = -1.0
    with pytest.raises(MarketDataError, match="0 rows left after repair"):
        validate(bars, TICKER, on_invalid="repair")


def test_unknown_policy_values_are_named() -> None:
    bars = _session_bars(5)
    with pytest.raises(ValueError, match="on_invalid='fix'"):
        apply_policy(bars, check_bars(bars, TICKER), "fix")
    with pytest.raises(ValueError, match="on_invalid='fix'"):
        ValidationPolicy(on_invalid="fix")
    with pytest.raises(ValueError, match="max_daily_move must be > 0"):
        ValidationPolicy(max_daily_move=0.0)
    with pytest.raises(MarketDataError, match="Unknown trading calendar 'NOPE'"):
        check_bars(bars, TICKER, calendar="NOPE")


def test_reports_of_several_tickers_stack() -> None:
    reports = [check_bars(_session_bars(seed=seed), f"T{seed}") for seed in range(3)]
    frame = reports_frame(reports)
    assert len(frame) == 3 * len(CHECKS)
    assert list(frame["ticker"].unique()) == ["T0", "T1", "T2"]
    assert reports_frame([]).empty


_CORRUPTIONS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=39),
        st.sampled_from(["nan", "zero", "negative_volume", "high_low", "duplicate", "weekend"]),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(corruptions=_CORRUPTIONS, shuffle=st.booleans())
def test_repaired_bars_pass_every_error_check(corruptions, shuffle) -> None:
    bars = _corrupt(_session_bars(40), corruptions)
    if shuffle:
        bars = bars.iloc[::-1]
    report = check_bars(bars, TICKER)
    try:
        repaired = apply_policy(bars, report, "repair")
    except MarketDataError:
        assert report.errors
        return
    after = check_bars(repaired, TICKER)
    assert after.ok, after.summary()
    assert len(repaired) <= len(bars)
    assert set(repaired.index) <= set(bars.index)  # nothing invented, nothing filled


def _corrupt(bars: pd.DataFrame, corruptions: list[tuple[int, str]]) -> pd.DataFrame:
    bars = bars.copy()
    extra = []
    for row, kind in corruptions:
        day = bars.index[row]
        if kind == "nan":
            bars.loc[day, "open"] = np.nan
        elif kind == "zero":
            bars.loc[day, "adj_close"] = 0.0
        elif kind == "negative_volume":
            bars.loc[day, "volume"] = -3.0
        elif kind == "high_low":
            bars.loc[day, ["high", "low"]] = bars.loc[day, ["low", "high"]].to_numpy()
        elif kind == "duplicate":
            extra.append(bars.loc[[day]])
        else:
            extra.append(bars.loc[[day]].set_axis(pd.DatetimeIndex(["2024-01-13"], name="date")))
    return pd.concat([bars, *extra]) if extra else bars
