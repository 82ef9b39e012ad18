"""Conformal intervals: the finite-sample quantile by hand, coverage on exchangeable data,
CQR's correction, and ACI's update rule and its coverage under a drifting scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fincast.conformal import (
    aci_intervals,
    conformal_quantile,
    cqr_corrections,
    interval_levels,
    interval_of,
    split_half_widths,
)


def test_the_conformal_quantile_is_the_ceil_n_plus_one_rank() -> None:
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6])  # n = 9
    # alpha 0.2: k = ceil(10 * 0.8) = 8, the 8th smallest of 0.1..0.9 is 0.8
    assert conformal_quantile(scores, 0.2) == pytest.approx(0.8)
    # alpha 0.5: k = ceil(10 * 0.5) = 5 -> 0.5
    assert conformal_quantile(scores, 0.5) == pytest.approx(0.5)
    # alpha 0.05: k = ceil(9.5) = 10 > 9: no finite quantile covers
    assert conformal_quantile(scores, 0.05) == math.inf
    per_step = conformal_quantile(np.column_stack([scores, 10 * scores]), 0.2)
    np.testing.assert_allclose(per_step, [0.8, 8.0])
    with pytest.raises(ValueError, match="alpha must be in"):
        conformal_quantile(scores, 1.0)


def test_split_conformal_covers_new_exchangeable_values() -> None:
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(400):
        predicted = rng.normal(size=(101, 2))
        actual = predicted + rng.standard_t(3, size=(101, 2)) * [1.0, 3.0]
        width = split_half_widths(actual[:100], predicted[:100], alpha=0.2)
        hits.append(np.abs(actual[100] - predicted[100]) <= width)
    coverage = np.mean(hits, axis=0)
    # exchangeable: at least 80%, and at most 80% + 1/(n+1)
    assert np.all(coverage > 0.76) and np.all(coverage < 0.85)


def test_cqr_moves_both_bounds_by_the_conformal_quantile_of_the_scores() -> None:
    actual = np.array([[1.0], [2.0], [3.0], [10.0]])
    lower = np.array([[0.0], [2.5], [2.0], [4.0]])
    upper = np.array([[2.0], [3.0], [5.0], [6.0]])
    # scores max(lower - y, y - upper): -1, 0.5, -1, 4; alpha 0.4 -> k = ceil(5 * 0.6) = 3 -> 0.5
    assert cqr_corrections(actual, lower, upper, 0.4) == pytest.approx([0.5])
    assert interval_levels(0.8) == (0.1, 0.9) and interval_levels(0.9) == (0.05, 0.95)


def test_aci_follows_gibbs_and_candes_with_delayed_feedback() -> None:
    scores = [np.array([1.0, 2.0, 3.0, 4.0])] * 6
    predicted = np.zeros(6)
    actual = np.array([10.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # only origin 0 misses
    widths, levels, misses = aci_intervals(predicted, actual, scores, 0.2, 0.1, horizon=2)
    # origins 0 and 1 know nothing; origin 2 learns origin 0's miss: 0.2 + 0.1 (0.2 - 1)
    np.testing.assert_allclose(levels, [0.2, 0.2, 0.12, 0.14, 0.16, 0.18])
    assert misses.tolist() == [1, 0, 0, 0, 0, 0]
    assert widths[0] == 4.0  # k = ceil(5 * 0.8) = 4 -> 4.0
    assert widths[2] == math.inf  # k = ceil(5 * 0.88) = 5 > 4: no finite width


def test_aci_keeps_coverage_where_the_scale_drifts() -> None:
    """Calibrated on a calm period, tested on one whose scale triples: split conformal
    under-covers, ACI's level adapts and brings every 250-origin stretch near 80%."""
    rng = np.random.default_rng(1)
    calm = np.abs(rng.normal(size=500))
    count = 1500
    scale = np.linspace(1.0, 3.0, count)
    actual = rng.normal(size=count) * scale
    predicted = np.zeros(count)
    fixed = conformal_quantile(calm, 0.2)
    split_coverage = np.mean(np.abs(actual) <= fixed)
    scores = []
    window = list(calm)
    for origin in range(count):  # the calibration set rolls forward with realised scores
        scores.append(np.asarray(window[-500:]))
        if origin >= 1:
            window.append(abs(actual[origin - 1]))
    _, _, misses = aci_intervals(predicted, actual, scores, 0.2, 0.005, horizon=1)
    coverage = 1 - misses
    stretches = [coverage[start : start + 250].mean() for start in range(0, count, 250)]
    assert split_coverage < 0.7
    assert all(0.7 <= share <= 0.9 for share in stretches), stretches


def test_a_scaled_interval_needs_its_window_and_follows_its_volatility() -> None:
    entry = {
        "method": "split",
        "level": 0.8,
        "half_width": [1.0, 2.0],
        "scale": {"column": "log_return", "position": 0, "window": 2, "floor": 0.001},
    }
    card = {"intervals": entry}
    point = np.array([0.0, 0.1])
    with pytest.raises(ValueError, match="scales with the input window"):
        interval_of(card, point, point)
    calm = np.array([[0.5, 9.0], [0.01, 9.0], [-0.01, 9.0]])  # only the last 2 rows count
    stormy = calm * 3
    narrow, wide = interval_of(card, point, point, calm), interval_of(card, point, point, stormy)
    np.testing.assert_allclose(narrow["upper"], point + np.array([0.01, 0.02]))
    np.testing.assert_allclose(wide["lower"], point - np.array([0.03, 0.06]))
    assert narrow["scale_window"] == 2
    flat = np.zeros((3, 2))  # a stale quote: the floor, never a zero width
    np.testing.assert_allclose(
        interval_of(card, point, point, flat)["upper"], point + np.array([0.001, 0.002])
    )
