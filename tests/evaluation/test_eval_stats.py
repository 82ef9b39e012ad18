"""Diebold-Mariano (HLN) and the binomial test, against textbook formulas and references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from fincast.evaluation.stats import DMResult, binomial_test, diebold_mariano, verdict

# A fixed example: actual values and two competing forecasts (forecast B is "no change").
ACTUAL = [0.51, -0.32, 1.12, 0.07, -0.85, 0.44, 0.98, -0.21, 0.35, -0.66]
ACTUAL += [0.12, 0.79, -0.43, 0.28, 0.61, -0.17, 0.93, -0.58, 0.05, 0.36]
FORECAST_A = [0.40, -0.10, 0.90, 0.20, -0.50, 0.30, 0.70, 0.00, 0.20, -0.40]
FORECAST_A += [0.10, 0.60, -0.20, 0.20, 0.50, 0.00, 0.70, -0.30, 0.10, 0.30]
# (statistic, p-value) of this example from the independent `dieboldmariano` 1.1.0
# package (PyPI; its own incomplete-beta t distribution), squared-error loss, HLN on.
REFERENCE = {
    1: (-3.8585393886914545, 0.001058429994029251),
    3: (-5.264679719819566, 4.416914008455404e-05),
    5: (-5.674510536370094, 1.8035822736539388e-05),
}


def squared_losses() -> tuple[np.ndarray, np.ndarray]:
    actual = np.array(ACTUAL)
    return (actual - np.array(FORECAST_A)) ** 2, actual**2


def textbook_dm(d: list[float], h: int) -> tuple[float, float]:
    """DM with the HLN correction, written out loop by loop from Harvey et al. (1997)."""
    n = len(d)
    mean = sum(d) / n
    gamma = []
    for k in range(h):
        total = 0.0
        for t in range(k, n):
            total += (d[t] - mean) * (d[t - k] - mean)
        gamma.append(total / n)
    long_run = gamma[0] + 2 * sum(gamma[1:])
    dm = mean / math.sqrt(long_run / n)
    hln = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    p_value = 2 * (1 - scipy_stats.t.cdf(abs(hln), df=n - 1))
    return hln, p_value


@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_dm_matches_the_textbook_formula_and_an_independent_package(horizon: int) -> None:
    loss_a, loss_b = squared_losses()
    result = diebold_mariano(loss_a, loss_b, horizon)
    statistic, p_value = textbook_dm(list(loss_a - loss_b), horizon)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    assert result.statistic == pytest.approx(REFERENCE[horizon][0], rel=1e-12)
    assert result.p_value == pytest.approx(REFERENCE[horizon][1], rel=1e-8)
    assert result.n == 20 and not result.fell_back


def test_dm_hand_case_six_values() -> None:
    # d = -0.2 -0.1 -0.2 0.1 -0.3 -0.3: mean -1/6, gamma_0 = 0.11333/6, HLN factor sqrt(5/6)
    result = diebold_mariano([0.1, 0.3, 0.2, 0.4, 0.2, 0.1], [0.3, 0.4, 0.4, 0.3, 0.5, 0.4])
    gamma_0 = 0.68 / 36
    expected = (-1 / 6) / math.sqrt(gamma_0 / 6) * math.sqrt(5 / 6)
    assert result.statistic == pytest.approx(expected, rel=1e-9)
    assert result.p_value == pytest.approx(2 * scipy_stats.t.sf(abs(expected), 5), rel=1e-9)


def test_dm_is_antisymmetric() -> None:
    loss_a, loss_b = squared_losses()
    forward, backward = diebold_mariano(loss_a, loss_b, 3), diebold_mariano(loss_b, loss_a, 3)
    assert forward.statistic == pytest.approx(-backward.statistic)
    assert forward.p_value == pytest.approx(backward.p_value)


def test_dm_falls_back_to_h1_when_the_long_run_variance_is_negative() -> None:
    differential = np.array([1.0, -1.0] * 10) + 0.1
    result = diebold_mariano(differential, np.zeros_like(differential), horizon=2)
    assert result.fell_back
    assert result.statistic == pytest.approx(
        diebold_mariano(differential, 0 * differential).statistic
    )


def test_dm_identical_losses_are_no_difference() -> None:
    result = diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert result.statistic == 0.0 and result.p_value == 1.0


def test_dm_size_is_close_to_nominal_under_the_null() -> None:
    rng = np.random.default_rng(7)
    rejections = [
        diebold_mariano(rng.normal(size=(200,)) ** 2, rng.normal(size=(200,)) ** 2).p_value < 0.05
        for _ in range(400)
    ]
    assert 0.02 < np.mean(rejections) < 0.09


@pytest.mark.parametrize(
    ("loss_a", "loss_b", "horizon"), [([1.0, 2.0], [1.0, 2.0], 1), ([1.0] * 5, [1.0] * 4, 1)]
)
def test_dm_rejects_bad_input(loss_a, loss_b, horizon) -> None:
    with pytest.raises(ValueError, match="Received: lengths"):
        diebold_mariano(loss_a, loss_b, horizon)


def test_verdict_claims_skill_only_when_significant_and_lower() -> None:
    better = DMResult(-2.5, 0.012, -0.3, 100, 1)
    worse = DMResult(2.5, 0.012, 0.3, 100, 1)
    unclear = DMResult(-1.5, 0.14, -0.3, 100, 1)
    assert verdict(better, "garch") == "better than garch (HLN DM p=0.012)"
    assert verdict(worse, "garch").startswith("worse than garch")
    assert verdict(unclear, "garch").startswith("no significant difference")
    assert verdict(DMResult(-2.0, 0.05, -0.1, 100, 1), "x").startswith("no significant")


@pytest.mark.parametrize(
    ("successes", "trials", "probability"),
    [(60, 100, 0.5), (5, 10, 0.5), (0, 12, 0.5), (30, 40, 0.7), (531, 1000, 0.52), (3, 50, 0.1)],
)
def test_binomial_test_matches_scipy(successes: int, trials: int, probability: float) -> None:
    expected = scipy_stats.binomtest(successes, trials, probability).pvalue
    assert binomial_test(successes, trials, probability) == pytest.approx(expected, rel=1e-9)


def test_binomial_test_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes=11, trials=10"):
        binomial_test(11, 10)


def ma_differential(n: int, order: int, rng: np.random.Generator, mean: float = 0.0):
    """A loss differential with MA(``order``) autocorrelation, like overlapping h-step targets."""
    shocks = rng.normal(size=n + order)
    return mean + sum(shocks[lag : lag + n] for lag in range(order + 1))


def test_hac_p_value_matches_statsmodels_newey_west():
    import statsmodels.api as sm
    from scipy import stats as scipy_stats

    from fincast.evaluation.stats import hac_variance, hln_factor

    rng = np.random.default_rng(7)
    differential = ma_differential(1500, 4, rng, mean=0.12)
    result = diebold_mariano(differential, np.zeros_like(differential), 5, test="hac")
    _, bandwidth = hac_variance(differential, min_bandwidth=4)
    assert result.test == "hac" and result.lags == bandwidth >= 4
    fit = sm.OLS(differential, np.ones_like(differential)).fit(
        cov_type="HAC", cov_kwds={"maxlags": int(bandwidth), "use_correction": False}
    )
    statistic = float(fit.tvalues[0]) * hln_factor(len(differential), 5)
    expected = 2 * scipy_stats.t.sf(abs(statistic), df=len(differential) - 1)
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def _rejections(test: str, order: int, simulations: int, **options) -> float:
    rng = np.random.default_rng(11)
    rejected = 0
    for _ in range(simulations):
        differential = ma_differential(500, order, rng)
        result = diebold_mariano(differential, np.zeros(500), 1, test=test, **options)
        rejected += result.p_value < 0.05
    return rejected / simulations


def test_robust_tests_hold_their_size_where_hln_with_too_few_lags_does_not():
    """Under equal accuracy with MA(6) differentials, HLN at h=1 rejects far above 5%."""
    assert _rejections("hln", 6, 300) > 0.3
    assert _rejections("hac", 6, 300) < 0.12
    assert _rejections("bootstrap", 6, 120, reps=199) < 0.12


def test_the_bootstrap_rejects_a_real_difference_and_says_how():
    rng = np.random.default_rng(3)
    differential = ma_differential(1000, 4, rng, mean=-1.0)
    result = diebold_mariano(differential, np.zeros(1000), 5, test="bootstrap", reps=499)
    assert result.test == "bootstrap" and result.lags >= 5
    assert result.p_value == pytest.approx(1 / 500) and result.statistic < 0
    again = diebold_mariano(differential, np.zeros(1000), 5, test="bootstrap", reps=499)
    assert again == result  # seeded: a report repeats exactly


def test_an_unknown_test_is_refused():
    with pytest.raises(ValueError, match="test must be one of hac, bootstrap, hln"):
        diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 2.0], 1, test="magic")  # type: ignore[arg-type]
