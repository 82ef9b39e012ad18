"""Forecast-comparison tests: Diebold-Mariano (HLN, HAC or block bootstrap) and a binomial test.

Overlapping h-step targets make loss differentials autocorrelated well beyond lag
``h - 1``; the classic HLN test (``hln``) then overstates significance. ``hac`` (the
default in reports) takes the long-run variance from a Bartlett kernel whose
bandwidth Newey and West's (1994) automatic rule picks from the data (``arch``'s
kernel estimator), keeping the HLN small-sample factor; ``bootstrap`` resamples the
differential in moving blocks (Politis-White block length). The Model Confidence Set
and the SPA test over all forecasters live in :mod:`fincast.evaluation.confidence`.

>>> result = diebold_mariano([0.1, 0.3, 0.2, 0.4, 0.2, 0.1], [0.3, 0.4, 0.4, 0.3, 0.5, 0.4])
>>> round(result.statistic, 4), round(result.p_value, 4)
(-2.7116, 0.0422)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

SIGNIFICANCE = 0.05
DMTest = Literal["hac", "bootstrap", "hln"]
TEST_NAMES = {
    "hac": "Diebold-Mariano with a Newey-West HAC variance (Bartlett kernel, automatic "
    "bandwidth) and the HLN small-sample factor",
    "bootstrap": "Diebold-Mariano by moving-block bootstrap of the loss differential "
    "(Politis-White block length)",
    "hln": "Diebold-Mariano, HLN-corrected, h-1 autocovariance lags",
}
TEST_LABELS = {"hac": "HAC DM", "bootstrap": "bootstrap DM", "hln": "HLN DM"}


@dataclass(frozen=True)
class DMResult:
    """One Diebold-Mariano comparison of forecaster A against forecaster B.

    Attributes:
        statistic: the HLN-corrected statistic; negative when A's mean loss is lower.
        p_value: two-sided p-value from Student's t with ``n - 1`` degrees of freedom.
        mean_difference: mean of ``loss_a - loss_b``.
        n: number of loss pairs.
        horizon: the forecast horizon ``h`` (autocovariances up to lag ``h - 1``).
        fell_back: the long-run variance was not positive at ``h``, so ``h = 1`` was
            used (as R's ``forecast::dm.test`` does).
        test: ``hln``, ``hac`` or ``bootstrap`` (see the module docstring).
        lags: the HAC bandwidth, the bootstrap block length or ``h - 1``.
    """

    statistic: float
    p_value: float
    mean_difference: float
    n: int
    horizon: int
    fell_back: bool = False
    test: str = "hln"
    lags: float = 0.0


def _autocovariance(values: np.ndarray, lag: int) -> float:
    centred = values - values.mean()
    return float(np.dot(centred[lag:], centred[: len(values) - lag]) / len(values))


def diebold_mariano(
    loss_a: ArrayLike,
    loss_b: ArrayLike,
    horizon: int = 1,
    *,
    test: DMTest = "hln",
    reps: int = 999,
    seed: int = 0,
) -> DMResult:
    """Diebold-Mariano test of equal predictive accuracy (``test``: see the module docstring).

    The description below is the ``hln`` test; ``hac`` replaces the truncated sum by
    :func:`hac_variance`, and ``bootstrap`` is :func:`bootstrap_dm`.

    With ``d_t = loss_a_t - loss_b_t`` over ``n`` forecast origins in time order,
    ``DM = mean(d) / sqrt((g_0 + 2 * sum_{k=1}^{h-1} g_k) / n)`` with ``g_k`` the lag-k
    autocovariance of ``d``; Harvey, Leybourne & Newbold (1997) multiply it by
    ``sqrt((n + 1 - 2h + h(h-1)/n) / n)`` and compare it with Student's t(n - 1).

    Args:
        loss_a: per-origin losses of forecaster A (e.g. the model), 1-D.
        loss_b: per-origin losses of forecaster B (e.g. a baseline), same length.
        horizon: steps ahead of the forecasts (h-step forecasts overlap, so their
            loss differentials are autocorrelated up to lag ``h - 1`` at least).
        test: ``hln``, ``hac`` or ``bootstrap``.
        reps: bootstrap replications (``bootstrap`` only).
        seed: the bootstrap's random seed, so a report repeats exactly.

    Raises:
        ValueError: lengths differ, fewer than 3 pairs, ``horizon < 1`` or an unknown test.
    """
    a, b = np.asarray(loss_a, "float64").ravel(), np.asarray(loss_b, "float64").ravel()
    if a.shape != b.shape or a.size < 3 or horizon < 1:
        raise ValueError(
            "diebold_mariano needs two loss series of the same length >= 3 and horizon >= 1. "
            f"Received: lengths {a.size} and {b.size}, horizon={horizon}"
        )
    if test not in TEST_NAMES:
        raise ValueError(f"test must be one of {', '.join(TEST_NAMES)}. Received: test={test!r}")
    differential = a - b
    if test == "hac":
        return _hac_dm(differential, horizon)
    if test == "bootstrap":
        return bootstrap_dm(differential, horizon, reps=reps, seed=seed)
    n, mean_difference = differential.size, float(differential.mean())
    used, fell_back = min(horizon, n - 1), False
    variance = _long_run_variance(differential, used)
    if variance <= 0 and used > 1:
        used, fell_back = 1, True
        variance = _long_run_variance(differential, 1)
    if variance <= 0:
        same = 0.0 if mean_difference == 0 else math.copysign(math.inf, mean_difference)
        return DMResult(same, 1.0 if same == 0 else 0.0, mean_difference, n, horizon, fell_back)
    statistic = mean_difference / math.sqrt(variance / n)
    statistic *= hln_factor(n, used)
    p_value = _two_sided_t(statistic, n - 1)
    return DMResult(
        float(statistic), p_value, mean_difference, n, horizon, fell_back, "hln", used - 1
    )


def _two_sided_t(statistic: float, degrees: int) -> float:
    """Two-sided p-value of Student's t (SciPy's stats, imported here: 0.5 s at start-up)."""
    from scipy import stats

    return float(2 * stats.t.sf(abs(statistic), df=degrees))


def hln_factor(n: int, horizon: int) -> float:
    """Harvey, Leybourne & Newbold's (1997) small-sample factor of the DM statistic."""
    return math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)


def hac_variance(differential: np.ndarray, min_bandwidth: float = 0.0) -> tuple[float, float]:
    """Newey-West long-run variance of ``differential`` and the bandwidth used.

    The Bartlett kernel's bandwidth comes from Newey and West's (1994) automatic rule
    (``arch.covariance.kernel.Bartlett``, rounded to whole lags), raised to
    ``min_bandwidth`` when lower; weights ``1 - j / (bandwidth + 1)``.
    """
    from arch.covariance.kernel import Bartlett

    kernel = Bartlett(differential, force_int=True)
    bandwidth = float(kernel.bandwidth)
    if bandwidth < min_bandwidth:
        bandwidth = float(min_bandwidth)
        kernel = Bartlett(differential, bandwidth=bandwidth, force_int=True)
    return float(np.asarray(kernel.cov.long_run).ravel()[0]), bandwidth


def _hac_dm(differential: np.ndarray, horizon: int) -> DMResult:
    n, mean_difference = differential.size, float(differential.mean())
    variance, bandwidth = hac_variance(differential, min_bandwidth=horizon - 1)
    if not variance > 0:
        same = 0.0 if mean_difference == 0 else math.copysign(math.inf, mean_difference)
        p_value = 1.0 if same == 0 else 0.0
        return DMResult(same, p_value, mean_difference, n, horizon, False, "hac", bandwidth)
    statistic = mean_difference / math.sqrt(variance / n) * hln_factor(n, min(horizon, n - 1))
    p_value = _two_sided_t(statistic, n - 1)
    return DMResult(float(statistic), p_value, mean_difference, n, horizon, False, "hac", bandwidth)


def bootstrap_dm(differential: np.ndarray, horizon: int, *, reps: int, seed: int) -> DMResult:
    """DM by moving-block bootstrap: how often a resampled mean lies as far from 0.

    Blocks are ``max(h, Politis-White circular block length)`` long; the resampled
    differential is centred, so the p-value is ``(1 + #{|mean*| >= |mean|}) / (reps + 1)``.
    """
    from arch.bootstrap import MovingBlockBootstrap, optimal_block_length

    n, mean_difference = differential.size, float(differential.mean())
    optimal = float(optimal_block_length(differential)["circular"].iloc[0])
    block = max(math.ceil(optimal), horizon, 1)
    centred = differential - mean_difference
    bootstrap = MovingBlockBootstrap(block, centred, seed=seed)
    means = bootstrap.apply(np.mean, reps).ravel()
    spread = float(means.std(ddof=1))
    statistic = mean_difference / spread if spread > 0 else 0.0
    extreme = int(np.sum(np.abs(means) >= abs(mean_difference)))
    p_value = (1 + extreme) / (reps + 1)
    return DMResult(statistic, p_value, mean_difference, n, horizon, False, "bootstrap", block)


def _long_run_variance(differential: np.ndarray, horizon: int) -> float:
    gammas = [_autocovariance(differential, lag) for lag in range(horizon)]
    return gammas[0] + 2 * sum(gammas[1:])


def verdict(result: DMResult, baseline: str, alpha: float = SIGNIFICANCE) -> str:
    """Plain words for a model-vs-baseline DM result (losses as ``model - baseline``).

    Skill is claimed only when ``p < alpha`` AND the model's mean loss is lower.

    >>> verdict(DMResult(-3.1, 0.004, -0.2, 100, 1, test="hac"), "naive")
    'better than naive (HAC DM p=0.0040)'
    >>> verdict(DMResult(-1.0, 0.32, -0.1, 100, 1), "naive")
    'no significant difference from naive (HLN DM p=0.32)'
    >>> verdict(DMResult(2.5, 0.01, 0.3, 100, 1, test="bootstrap"), "naive")
    'worse than naive (bootstrap DM p=0.010)'
    """
    label = f"{TEST_LABELS.get(result.test, result.test)} {p_text(result.p_value)}"
    if not result.p_value < alpha:
        return f"no significant difference from {baseline} ({label})"
    if result.mean_difference < 0:
        return f"better than {baseline} ({label})"
    return f"worse than {baseline} ({label})"


TINY_P = 1e-16  # below this, a p-value is shown as a bound


def format_p(p_value: float) -> str:
    """A p-value for people: 2 significant digits, scientific below 0.001, ``< 1e-16`` below that.

    The one rule for p-values everywhere: reports, verdicts and the dashboard.

    >>> format_p(0.42), format_p(0.0423), format_p(0.00036), format_p(3e-54), format_p(1.0)
    ('0.42', '0.042', '3.6e-04', '< 1e-16', '1.0')
    """
    if p_value < TINY_P:
        return "< 1e-16"
    if p_value < 1e-3:
        return f"{p_value:.1e}"
    return f"{p_value:#.2g}".rstrip(".")


def p_text(p_value: float) -> str:
    """``p=0.042``, or ``p < 1e-16`` for a bound.

    >>> p_text(0.0423), p_text(1e-20)
    ('p=0.042', 'p < 1e-16')
    """
    text = format_p(p_value)
    return f"p {text}" if text.startswith("<") else f"p={text}"


def binomial_test(successes: int, trials: int, probability: float = 0.5) -> float:
    """Exact two-sided binomial test p-value (e.g. of a hit rate against a coin flip).

    Sums the probabilities of every outcome no more likely than the observed one
    (the same convention as R's ``binom.test`` and SciPy's ``binomtest``).

    >>> round(binomial_test(60, 100), 4)
    0.0569
    >>> binomial_test(0, 0)
    nan
    """
    if trials == 0:
        return float("nan")
    if not 0 <= successes <= trials or not 0 < probability < 1:
        raise ValueError(
            "binomial_test needs 0 <= successes <= trials and 0 < probability < 1. "
            f"Received: successes={successes}, trials={trials}, probability={probability}"
        )
    outcomes = np.arange(trials + 1)
    from scipy import stats

    pmf = stats.binom.pmf(outcomes, trials, probability)
    observed = pmf[successes]
    tolerance = 1 + 1e-7  # outcomes equally likely up to rounding count as extreme
    return float(min(1.0, pmf[pmf <= observed * tolerance].sum()))
