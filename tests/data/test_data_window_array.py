"""WindowArray: lazy windows over shared feature rows behave as the materialised array."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fincast.data.windows import (
    WindowArray,
    concat_windows,
    feature_moments,
    make_windows,
    split_at,
)


def _panel(tickers: int = 3, rows: int = 80) -> list:
    rng = np.random.default_rng(7)
    parts = []
    for index in range(tickers):
        dates = pd.bdate_range("2020-01-01", periods=rows - 7 * index)
        frame = pd.DataFrame(
            rng.normal(size=(len(dates), 3)).astype("float32"), index=dates, columns=list("abc")
        )
        parts.append(make_windows(frame, "a", lookback=9, horizon=2, ticker=f"T{index}"))
    return parts


def _dense(parts: list) -> np.ndarray:
    """The panel's windows materialised the old way: one sliding view per ticker, stacked."""
    return np.concatenate([np.asarray(part.inputs) for part in parts])


def test_materialised_windows_equal_sliding_views_of_the_rows() -> None:
    values = np.arange(40, dtype="float32").reshape(20, 2)
    array = WindowArray(values, np.arange(16), lookback=5)
    expected = np.lib.stride_tricks.sliding_window_view(values, 5, axis=0).transpose(0, 2, 1)
    np.testing.assert_array_equal(np.asarray(array), expected)
    assert array.shape == expected.shape and len(array) == 16 and array.dtype == np.float32


@pytest.mark.parametrize(
    "key",
    [
        3,
        -1,
        slice(2, 9),
        slice(None, None, 3),
        np.array([5, 0, 11]),
        np.arange(16) % 3 == 0,
        (slice(None), -1, 0),
        (slice(None), -1),
        (np.array([1, 4]), slice(2, 4), slice(None)),
        (slice(None), slice(None), 1),
        (7, 2),
    ],
)
def test_indexing_matches_numpy(key: object) -> None:
    values = np.random.default_rng(1).normal(size=(20, 3)).astype("float32")
    array = WindowArray(values, np.arange(16), lookback=5)
    dense = np.asarray(array)
    np.testing.assert_array_equal(np.asarray(array[key]), dense[key])


def test_concatenated_panel_gathers_each_tickers_windows() -> None:
    parts = _panel()
    panel = concat_windows(parts)
    np.testing.assert_array_equal(np.asarray(panel.inputs), _dense(parts))
    # the rows are stacked once (days x features), never days x lookback x features
    assert panel.inputs.rows.shape == (80 + 73 + 66, 3)
    positions = np.array([0, 70, 71, 150, len(panel) - 1])
    np.testing.assert_array_equal(panel.inputs.take(positions), _dense(parts)[positions])


def test_splits_of_a_panel_keep_the_same_windows() -> None:
    parts = _panel()
    panel = concat_windows(parts)
    train, test = split_at(panel, panel.first_target[40], embargo=2)
    dense = np.asarray(panel.inputs)
    for part in (train, test):
        positions = [
            int(np.flatnonzero((panel.as_of == day) & (panel.tickers == name))[0])
            for day, name in zip(part.as_of, part.tickers, strict=True)
        ]
        np.testing.assert_array_equal(np.asarray(part.inputs), dense[positions])
        assert part.inputs.rows is panel.inputs.rows  # a selection, not a copy


def test_moments_without_materialising_equal_the_flat_moments() -> None:
    parts = _panel()
    panel = concat_windows(parts)
    train, _ = split_at(panel, panel.first_target[50], embargo=2)
    mean, variance = feature_moments(train.inputs)
    flat = np.asarray(train.inputs).reshape(-1, 3).astype("float64")
    np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(variance, flat.var(axis=0), rtol=1e-10)


def test_rows_are_read_only() -> None:
    values = np.zeros((10, 2), dtype="float32")
    array = WindowArray(values, np.arange(5), lookback=4)
    with pytest.raises(ValueError, match="read-only"):
        array[0][0, 0] = 1.0
    assert values.flags.writeable  # the caller's array is left as it was


def test_indexes_numpy_would_read_differently_are_refused() -> None:
    array = WindowArray(np.zeros((20, 3), dtype="float32"), np.arange(16), lookback=5)
    for key in ((Ellipsis, 0), (np.array([0, 1]), np.array([2, 3]))):
        with pytest.raises(IndexError, match="no Ellipsis, at most one index array"):
            array[key]
