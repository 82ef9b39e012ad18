"""MASE, sMAPE, pinball, coverage, QLIKE and the chance hit rate, against references and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_pinball_loss

from fincast.evaluation.metrics import (
    chance_hit_rate,
    coverage,
    mase,
    mse,
    naive_scale,
    pinball_loss,
    qlike,
    qlike_losses,
    smape,
)


def test_mase_hand_case() -> None:
    # in-sample series 10, 12, 11, 15: naive errors 2, 1, 4 -> scale 7/3
    scale = naive_scale([10.0, 12.0, 11.0, 15.0])
    assert scale == pytest.approx(7 / 3)
    # out-of-sample errors 1 and 3 -> MAE 2 -> MASE 2 / (7/3)
    assert mase([[16.0, 14.0]], [[15.0, 17.0]], scale) == pytest.approx(6 / 7)


def test_mase_scales_each_row_by_its_own_fold() -> None:
    actual = np.array([[1.0, 1.0], [1.0, 1.0]])
    forecast = np.array([[2.0, 2.0], [3.0, 3.0]])
    # row errors 1 and 2, scales 1 and 4 -> mean(1, 0.5)
    assert mase(actual, forecast, np.array([1.0, 4.0])) == pytest.approx(0.75)


def test_mase_rejects_a_zero_scale() -> None:
    with pytest.raises(ValueError, match="positive scale"):
        mase([1.0], [2.0], 0.0)


def test_smape_hand_cases() -> None:
    assert smape([100.0], [100.0]) == 0.0
    assert smape([100.0], [0.0]) == pytest.approx(200.0)
    assert smape([0.0, 0.0], [0.0, 0.0]) == 0.0
    # |110-100| / (100+110) = 0.047619 -> 9.5238 %, averaged with a perfect pair
    assert smape([100.0, 50.0], [110.0, 50.0]) == pytest.approx(100 * 10 / 210)


def test_smape_is_symmetric_in_its_arguments() -> None:
    rng = np.random.default_rng(3)
    a, f = rng.uniform(50, 150, 100), rng.uniform(50, 150, 100)
    assert smape(a, f) == pytest.approx(smape(f, a))


@pytest.mark.parametrize("seed", range(3))
def test_pinball_matches_sklearn_per_level(seed: int) -> None:
    rng = np.random.default_rng(seed)
    actual = rng.normal(size=(60, 3))
    levels = (0.05, 0.1, 0.5, 0.9, 0.95)
    quantiles = np.sort(rng.normal(size=(60, 3, len(levels))), axis=-1)
    expected = np.mean(
        [
            mean_pinball_loss(actual.ravel(), quantiles[..., index].ravel(), alpha=level)
            for index, level in enumerate(levels)
        ]
    )
    assert pinball_loss(actual, quantiles, levels) == pytest.approx(expected, rel=1e-12)


def test_pinball_rejects_mismatched_levels() -> None:
    with pytest.raises(ValueError, match=r"levels must be 2 values in \(0, 1\)"):
        pinball_loss([[1.0]], [[[0.0, 1.0]]], levels=[0.5])
    with pytest.raises(ValueError, match="Received: levels=\\[0.0, 1.0\\]"):
        pinball_loss([[1.0]], [[[0.0, 1.0]]], levels=[0.0, 1.0])


def test_coverage_counts_the_bounds_as_inside() -> None:
    assert coverage([0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]) == pytest.approx(2 / 3)


def test_coverage_of_true_normal_quantiles_is_near_nominal() -> None:
    draws = np.random.default_rng(0).normal(size=200_000)
    assert coverage(draws, -1.2815516, 1.2815516) == pytest.approx(0.8, abs=0.005)


def test_qlike_hand_case_and_minimum_at_the_truth() -> None:
    # s/h = 2: 2 - ln 2 - 1
    assert qlike([2.0], [1.0]) == pytest.approx(1 - np.log(2))
    grid = np.linspace(0.5, 2.0, 151)
    losses = [qlike([1.0], [h]) for h in grid]
    assert grid[int(np.argmin(losses))] == pytest.approx(1.0, abs=0.01)


def test_qlike_punishes_under_forecasts_more_than_over_forecasts() -> None:
    assert qlike([1.0], [0.5]) > qlike([1.0], [1.5])


def test_qlike_stays_finite_on_zero_variance() -> None:
    assert np.isfinite(qlike_losses([0.0], [1e-4])).all()


def test_qlike_is_scale_free_mse_is_not() -> None:
    actual, forecast = np.array([1.0, 2.0]), np.array([1.5, 1.5])
    assert qlike(actual, forecast) == pytest.approx(qlike(100 * actual, 100 * forecast))
    assert mse(100 * actual, 100 * forecast) == pytest.approx(10_000 * mse(actual, forecast))


def test_chance_hit_rate_hand_cases() -> None:
    # half the days up, always long: chance = 0.5
    assert chance_hit_rate([1, -1, 1, -1], [1, 1, 1, 1]) == 0.5
    # 3/4 up, half long: 0.75 * 0.5 + 0.25 * 0.5
    assert chance_hit_rate([1, 1, 1, -1], [1, -1, 1, -1]) == 0.5
    assert np.isnan(chance_hit_rate([1.0], [0.0]))
