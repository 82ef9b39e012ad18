"""Sliding windows and chronological splits with an embargo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fincast.data.windows import Windows, concat_windows, last_window, make_windows, split_at


def _frame(rows: int, columns: int = 2) -> pd.DataFrame:
    """Row r, column c holds r * 10 + c, so every value says where it came from."""
    values = np.arange(rows)[:, None] * 10 + np.arange(columns)[None, :]
    names = ["target", *[f"f{c}" for c in range(1, columns)]]
    return pd.DataFrame(
        values.astype(float),
        columns=names,
        index=pd.bdate_range("2024-01-01", periods=rows, name="date"),
    )


@pytest.mark.parametrize(
    ("rows", "lookback", "horizon"), [(10, 3, 2), (5, 4, 1), (7, 1, 1), (12, 2, 5)]
)
def test_shapes_and_exact_contents(rows: int, lookback: int, horizon: int) -> None:
    features = _frame(rows, columns=3)
    windows = make_windows(features, "target", lookback=lookback, horizon=horizon)
    count = rows - lookback - horizon + 1
    assert len(windows) == count
    assert windows.inputs.shape == (count, lookback, 3)
    assert windows.targets.shape == (count, horizon)
    assert windows.inputs.dtype == np.float32 and windows.targets.dtype == np.float32
    values = features.to_numpy()
    target = features["target"].to_numpy()
    dates = features.index
    for i in range(count):
        np.testing.assert_array_equal(windows.inputs[i], values[i : i + lookback])
        np.testing.assert_array_equal(
            windows.targets[i], target[i + lookback : i + lookback + horizon]
        )
        assert windows.as_of[i] == dates[i + lookback - 1]
        assert windows.first_target[i] == dates[i + lookback]
        assert windows.last_target[i] == dates[i + lookback + horizon - 1]
    assert len(windows.as_of) == len(windows.first_target) == len(windows.last_target) == count


def test_target_column_need_not_be_first() -> None:
    features = _frame(6, columns=3)[["f1", "target", "f2"]]
    windows = make_windows(features, "f2", lookback=2, horizon=1)
    np.testing.assert_array_equal(windows.targets[:, 0], [22, 32, 42, 52])


def test_inputs_never_include_a_target_day() -> None:
    windows = make_windows(_frame(30), "target", lookback=5, horizon=3)
    assert (windows.as_of < windows.first_target).all()
    assert (windows.inputs[:, -1, 0] < windows.targets[:, 0]).all()


@pytest.mark.parametrize(("rows", "lookback", "horizon"), [(4, 3, 2), (0, 1, 1), (1, 1, 1)])
def test_too_few_rows(rows: int, lookback: int, horizon: int) -> None:
    expected = rf"{rows} rows are too few.*at least {lookback + horizon}"
    with pytest.raises(ValueError, match=expected):
        make_windows(_frame(rows), "target", lookback=lookback, horizon=horizon)


def test_exactly_enough_rows_make_one_window() -> None:
    assert len(make_windows(_frame(5), "target", lookback=3, horizon=2)) == 1


@pytest.mark.parametrize(("lookback", "horizon"), [(0, 1), (1, 0), (-1, 3)])
def test_non_positive_lookback_or_horizon(lookback: int, horizon: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        make_windows(_frame(10), "target", lookback=lookback, horizon=horizon)


def test_last_window() -> None:
    features = _frame(8)
    window = last_window(features, 3)
    assert window.shape == (1, 3, 2) and window.dtype == np.float32
    np.testing.assert_array_equal(window[0], features.to_numpy()[-3:])
    with pytest.raises(ValueError, match="Need 9 feature rows"):
        last_window(features, 9)


def test_select_keeps_fields_aligned() -> None:
    windows = make_windows(_frame(10), "target", lookback=2, horizon=2)
    mask = np.array([True, False] * 3 + [False])
    chosen = windows.select(mask)
    assert isinstance(chosen, Windows) and len(chosen) == 3
    assert list(chosen.as_of) == list(windows.as_of[[0, 2, 4]])
    np.testing.assert_array_equal(chosen.targets, windows.targets[[0, 2, 4]])


def test_split_at_cutoff_without_embargo() -> None:
    windows = make_windows(_frame(20), "target", lookback=3, horizon=2)
    cutoff = windows.first_target[10]
    train, test = split_at(windows, cutoff, embargo=0)
    assert (train.last_target < cutoff).all()
    assert (test.first_target >= cutoff).all()
    # Window 9 straddles the cutoff (first target before, last target on it): in neither.
    assert len(train) == 9 and len(test) == len(windows) - 10
    assert train.as_of[-1] == windows.as_of[8]
    assert test.as_of[0] == windows.as_of[10]


@pytest.mark.parametrize("embargo", [0, 1, 3, 9, 50])
def test_embargo_drops_exactly_that_many_training_windows(embargo: int) -> None:
    windows = make_windows(_frame(30), "target", lookback=4, horizon=3)
    cutoff = windows.first_target[15]
    base_train, base_test = split_at(windows, cutoff, embargo=0)
    train, test = split_at(windows, cutoff, embargo=embargo)
    assert len(train) == max(len(base_train) - embargo, 0)
    assert list(train.as_of) == list(base_train.as_of[: len(train)])
    assert list(test.as_of) == list(base_test.as_of)  # the test part never changes


def test_negative_embargo() -> None:
    windows = make_windows(_frame(10), "target", lookback=2, horizon=1)
    with pytest.raises(ValueError, match="embargo must be >= 0"):
        split_at(windows, windows.as_of[5], embargo=-1)


def test_cutoff_outside_the_data() -> None:
    windows = make_windows(_frame(10), "target", lookback=2, horizon=2)
    train, test = split_at(windows, pd.Timestamp("1990-01-01"), embargo=0)
    assert len(train) == 0 and len(test) == len(windows)
    train, test = split_at(windows, pd.Timestamp("2100-01-01"), embargo=2)
    assert len(train) == len(windows) - 2 and len(test) == 0


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(min_value=2, max_value=60),
    lookback=st.integers(min_value=1, max_value=10),
    horizon=st.integers(min_value=1, max_value=10),
    cutoff_day=st.integers(min_value=-5, max_value=70),
    embargo=st.integers(min_value=0, max_value=12),
)
def test_train_and_test_targets_never_overlap(rows, lookback, horizon, cutoff_day, embargo):
    assume(rows >= lookback + horizon)
    features = _frame(rows)
    windows = make_windows(features, "target", lookback=lookback, horizon=horizon)
    cutoff = features.index[0] + pd.offsets.BDay(cutoff_day)
    train, test = split_at(windows, cutoff, embargo=embargo)

    def target_days(part: Windows) -> set[pd.Timestamp]:
        days: set[pd.Timestamp] = set()
        for first, last in zip(part.first_target, part.last_target, strict=True):
            days.update(features.index[(features.index >= first) & (features.index <= last)])
        return days

    assert not target_days(train) & target_days(test)
    assert (train.last_target < cutoff).all()
    assert (test.first_target >= cutoff).all()
    if len(train) and len(test):
        assert train.last_target.max() < test.first_target.min()
    # Training targets are also values strictly before any test target value.
    if len(train) and len(test):
        assert train.targets.max() < test.targets.min()
    assert len(train) + len(test) <= len(windows)
    eligible = int((windows.last_target < cutoff).sum())
    assert len(train) == max(eligible - embargo, 0)
    assert len(test) == int((windows.first_target >= cutoff).sum())


def _float32_frame(rows: int, columns: int = 3) -> tuple[np.ndarray, pd.DataFrame]:
    """A float32 array and a frame over the same memory (one block, no copy)."""
    values = np.random.default_rng(0).normal(size=(rows, columns)).astype("float32")
    names = ["target", *[f"f{c}" for c in range(1, columns)]]
    index = pd.bdate_range("2024-01-01", periods=rows, name="date")
    return values, pd.DataFrame(values, columns=names, index=index, copy=False)


def test_windows_are_views_of_the_feature_array() -> None:
    values, features = _float32_frame(500)
    windows = make_windows(features, "target", lookback=60, horizon=5)
    assert np.shares_memory(windows.inputs.rows, values)
    assert np.shares_memory(windows.targets, values)
    # 436 windows of 60 x 3 floats, yet no memory beyond the 500 x 3 feature rows.
    assert windows.inputs.shape == (436, 60, 3)
    assert np.shares_memory(windows.inputs[17], values)
    assert not windows.inputs.rows.flags.writeable  # a view must never be written through
    np.testing.assert_array_equal(windows.inputs[17], values[17:77])
    np.testing.assert_array_equal(windows.targets[17], values[77:82, 0])


def test_windows_of_the_pipeline_features_share_memory_with_them() -> None:
    from fincast.data.features import make_features
    from fincast.data.sources import load_sample

    features = make_features(load_sample(["^GSPC"])["^GSPC"], ["log_return", "log_range"])
    windows = make_windows(features, "log_return", lookback=20, horizon=3)
    assert np.shares_memory(windows.inputs.rows, features.to_numpy())


def test_split_parts_stay_views() -> None:
    values, features = _float32_frame(200)
    windows = make_windows(features, "target", lookback=10, horizon=3)
    train, test = split_at(windows, windows.first_target[120], embargo=3)
    assert train.inputs.rows.base is test.inputs.rows.base  # both over the one feature array
    assert np.shares_memory(train.inputs[0], values) and np.shares_memory(test.inputs[0], values)
    assert len(train) == 120 - 2 - 3 and len(test) == len(windows) - 120


def test_multi_horizon_targets_are_the_next_days_of_the_target() -> None:
    features = _frame(40)
    windows = make_windows(features, "target", lookback=5, horizon=4)
    # Row r holds r * 10 in the target column: window i targets rows i+5 .. i+8.
    np.testing.assert_array_equal(windows.targets[0], [50, 60, 70, 80])
    np.testing.assert_array_equal(windows.targets[:, 0] + 30, windows.targets[:, 3])


def test_panel_carries_the_ticker_of_every_window() -> None:
    a = make_windows(_frame(20), "target", lookback=3, horizon=2, ticker="A")
    b = make_windows(_frame(12), "target", lookback=3, horizon=2, ticker="B")
    panel = concat_windows([a, b])
    assert len(panel) == len(a) + len(b) == 16 + 8
    assert list(panel.tickers) == ["A"] * 16 + ["B"] * 8
    np.testing.assert_array_equal(panel.inputs[16], b.inputs[0])
    # Splitting the panel keeps each window with its ticker.
    train, test = split_at(panel, panel.first_target[10], embargo=2)
    assert set(train.tickers) == {"A", "B"} and set(test.tickers) == {"A"}
    assert (train.last_target < panel.first_target[10]).all()
    for part in (train, test):
        for ticker, as_of in zip(part.tickers, part.as_of, strict=True):
            source = a if ticker == "A" else b
            assert as_of in source.as_of


def test_unnamed_windows_get_empty_tickers() -> None:
    windows = make_windows(_frame(10), "target", lookback=2, horizon=2)
    assert list(windows.tickers) == [""] * len(windows)
    with pytest.raises(ValueError, match="at least one part"):
        concat_windows([])
