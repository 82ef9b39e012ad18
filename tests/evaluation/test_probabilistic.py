"""Probabilistic scores against scoringrules and hand-computed cases.

scoringrules (0.10) is the independent implementation of the quantile CRPS
(``crps_quantile``) and the interval score (``interval_score``). Its
``weighted_interval_score`` is not used: in 0.10's NumPy backend it adds
``w_median * median`` where Bracher et al. (2021) add ``w_median * |y - median|``, so
the WIS is checked by the paper's formula over scoringrules' interval scores, by its
identity with the quantile CRPS, and on a case worked by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scoringrules

from fincast.evaluation.probabilistic import (
    central_intervals,
    crps_values,
    probabilistic_scores,
    winkler_scores,
    wis_values,
)

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def forecasts(seed: int = 0, levels: tuple[float, ...] = LEVELS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    actual = rng.normal(0.0, 0.01, (200, 4))
    centre = rng.normal(0.0, 0.003, (200, 4, 1))
    spread = np.quantile(rng.normal(0.0, 0.01, 20_000), levels)
    return actual, centre + spread * rng.uniform(0.5, 1.5, (200, 4, 1))


def test_crps_matches_scoringrules_crps_quantile() -> None:
    actual, quantiles = forecasts()
    expected = scoringrules.crps_quantile(actual, quantiles, np.array(LEVELS), backend="numpy")
    np.testing.assert_allclose(crps_values(actual, quantiles, LEVELS), expected, rtol=1e-12)
    odd = (0.1, 0.3, 0.6)  # any levels, not only symmetric ones
    actual, quantiles = forecasts(1, odd)
    expected = scoringrules.crps_quantile(actual, quantiles, np.array(odd), backend="numpy")
    np.testing.assert_allclose(crps_values(actual, quantiles, odd), expected, rtol=1e-12)


def test_winkler_matches_scoringrules_interval_score_and_hand_cases() -> None:
    actual, quantiles = forecasts()
    lower, upper = quantiles[..., 1], quantiles[..., 5]
    expected = scoringrules.interval_score(actual, lower, upper, 0.2, backend="numpy")
    np.testing.assert_allclose(winkler_scores(actual, lower, upper, 0.2), expected, rtol=1e-12)
    # 80% interval [-1, 1]: inside -> width 2; 1 below -> 2 + 10 * 1; 2 above -> 2 + 10 * 2
    hand = winkler_scores([0.5, -2.0, 3.0, 1.0], [-1.0] * 4, [1.0] * 4, alpha=0.2)
    assert hand.tolist() == [2.0, 12.0, 22.0, 2.0]
    # 50% interval [0, 4], y = 5: 4 + (2 / 0.5) * 1
    assert winkler_scores([5.0], [0.0], [4.0], alpha=0.5).tolist() == [8.0]
    with pytest.raises(ValueError, match="alpha=1.5"):
        winkler_scores([0.0], [0.0], [1.0], alpha=1.5)


def test_wis_is_bracher_et_al_over_scoringrules_interval_scores() -> None:
    actual, quantiles = forecasts()
    alphas = np.array([0.1, 0.2, 0.5])
    lower, upper = quantiles[..., [0, 1, 2]], quantiles[..., [6, 5, 4]]
    interval = scoringrules.interval_score(actual, lower, upper, alphas, backend="numpy")
    median_term = 0.5 * np.abs(actual - quantiles[..., 3])
    expected = (median_term + np.sum(alphas / 2 * interval, axis=-1)) / (len(alphas) + 0.5)
    np.testing.assert_allclose(wis_values(actual, quantiles, LEVELS), expected, rtol=1e-12)


def test_wis_equals_the_quantile_crps_on_symmetric_levels_with_the_median() -> None:
    """Bracher et al. (2021): with weights alpha_k / 2 and 1/2, the WIS over the median and
    K central intervals equals 2 * mean pinball over those 2K + 1 levels."""
    actual, quantiles = forecasts(2)
    crps = scoringrules.crps_quantile(actual, quantiles, np.array(LEVELS), backend="numpy")
    np.testing.assert_allclose(wis_values(actual, quantiles, LEVELS), crps, rtol=1e-12)


def test_wis_on_a_case_worked_by_hand() -> None:
    # median 0, 80% interval [-1, 1], y = 2: (0.5 * 2 + 0.1 * (2 + 10 * 1)) / 1.5 = 2.2 / 1.5
    value = wis_values([[2.0]], [[[-1.0, 0.0, 1.0]]], (0.1, 0.5, 0.9))
    assert value[0, 0] == pytest.approx(2.2 / 1.5)
    # without the median there is no WIS
    assert np.isnan(wis_values([[2.0]], [[[-1.0, 1.0]]], (0.1, 0.9))).all()


def test_crps_of_a_single_median_is_the_absolute_error() -> None:
    # one level at 0.5: 2 * pinball = |y - m|
    assert crps_values([[3.0]], [[[1.0]]], (0.5,))[0, 0] == pytest.approx(2.0)


def test_scores_name_every_central_interval() -> None:
    assert central_intervals(LEVELS) == {50: (2, 4), 80: (1, 5), 90: (0, 6)}
    assert central_intervals((0.1, 0.5)) == {}
    actual = np.array([[0.0, 2.0]])
    quantiles = np.array([[[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]])
    scores = probabilistic_scores(actual, quantiles, (0.1, 0.5, 0.9))
    assert list(scores) == ["cover_80", "width_80", "winkler_80", "crps", "wis"]
    assert scores["cover_80"] == 0.5 and scores["width_80"] == 2.0
    assert scores["winkler_80"] == pytest.approx((2.0 + 12.0) / 2)


def test_bad_shapes_and_levels_are_refused_with_the_values() -> None:
    with pytest.raises(ValueError, match=r"Received: forecast shape=\(1, 1, 2\)"):
        crps_values([[0.0]], [[[0.0, 1.0]]], (0.1, 0.5, 0.9))
    with pytest.raises(ValueError, match=r"levels=\(0.9, 0.1\)"):
        crps_values([[0.0]], [[[0.0, 1.0]]], (0.9, 0.1))


def test_interval_scores_take_alpha_from_the_levels() -> None:
    levels = (0.025, 0.5, 0.975)
    actual, quantiles = forecasts(3, levels)
    scores = probabilistic_scores(actual, quantiles, levels)
    lower, upper = quantiles[..., 0], quantiles[..., 2]
    winkler = scoringrules.interval_score(actual, lower, upper, 0.05, backend="numpy")
    assert scores["winkler_95"] == pytest.approx(float(np.mean(winkler)), rel=1e-12)
    inside = (actual >= lower) & (actual <= upper)
    assert scores["cover_95"] == float(np.mean(inside))
    assert scores["width_95"] == pytest.approx(float(np.mean(upper - lower)), rel=1e-12)


def test_stretch_coverage_counts_each_block_of_origins_in_time_order() -> None:
    from types import SimpleNamespace

    from fincast.evaluation.probabilistic import (
        rolling_coverage_range,
        stretch_coverage,
        stretch_lines,
    )

    count = 600
    origins = pd.bdate_range("2015-01-01", periods=count)[::-1]  # given newest first
    actual = np.zeros((count, 1))
    forecast = np.tile([-1.0, 0.0, 1.0], (count, 1, 1))
    # in time order the first 250 origins miss on 50, the next 250 on 100
    chronological = np.arange(count)[::-1]
    actual[chronological[:50]] = 5.0
    actual[chronological[250:350]] = -5.0
    backtest = SimpleNamespace(
        origins=origins,
        actual=actual,
        forecasts={"model": forecast},
        levels={"model": (0.1, 0.5, 0.9)},
    )
    assert stretch_coverage(backtest, "model") == {80: [0.8, 0.6]}  # the last 100 dropped
    # every run of 250 dates: 100 misses at worst (dates 100..349), none from date 350 on
    assert rolling_coverage_range(backtest, "model") == {80: (0.6, 1.0)}
    assert stretch_lines(backtest) == [
        "Coverage of the model's 80% interval per 250 test origins, in time order: 80.0%, "
        "60.0%; over every 250 consecutive test dates: 60.0% to 100.0%"
    ]
    assert rolling_coverage_range(backtest, "model", length=601) == {}
