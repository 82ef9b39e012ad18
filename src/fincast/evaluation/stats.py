"""Forecast-comparison tests: Diebold-Mariano with the HLN correction, and a binomial test.

>>> result = diebold_mariano([0.1, 0.3, 0.2, 0.4, 0.2, 0.1], [0.3, 0.4, 0.4, 0.3, 0.5, 0.4])
>>> round(result.statistic, 4), round(result.p_value, 4)
(-2.7116, 0.0422)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

SIGNIFICANCE = 0.05


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
    """

    statistic: float
    p_value: float
    mean_difference: float
    n: int
    horizon: int
    fell_back: bool = False


def _autocovariance(values: np.ndarray, lag: int) -> float:
    centred = values - values.mean()
    return float(np.dot(centred[lag:], centred[: len(values) - lag]) / len(values))


def diebold_mariano(loss_a: ArrayLike, loss_b: ArrayLike, horizon: int = 1) -> DMResult:
    """Diebold-Mariano test of equal predictive accuracy, HLN small-sample corrected.

    With ``d_t = loss_a_t - loss_b_t`` over ``n`` forecast origins in time order,
    ``DM = mean(d) / sqrt((g_0 + 2 * sum_{k=1}^{h-1} g_k) / n)`` with ``g_k`` the lag-k
    autocovariance of ``d``; Harvey, Leybourne & Newbold (1997) multiply it by
    ``sqrt((n + 1 - 2h + h(h-1)/n) / n)`` and compare it with Student's t(n - 1).

    Args:
        loss_a: per-origin losses of forecaster A (e.g. the model), 1-D.
        loss_b: per-origin losses of forecaster B (e.g. a baseline), same length.
        horizon: steps ahead of the forecasts (h-step forecasts overlap, so their
            loss differentials are autocorrelated up to lag ``h - 1``).

    Raises:
        ValueError: lengths differ, fewer than 3 pairs, or ``horizon < 1``.
    """
    a, b = np.asarray(loss_a, "float64").ravel(), np.asarray(loss_b, "float64").ravel()
    if a.shape != b.shape or a.size < 3 or horizon < 1:
        raise ValueError(
            "diebold_mariano needs two loss series of the same length >= 3 and horizon >= 1. "
            f"Received: lengths {a.size} and {b.size}, horizon={horizon}"
        )
    differential = a - b
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
    statistic *= math.sqrt((n + 1 - 2 * used + used * (used - 1) / n) / n)
    p_value = float(2 * stats.t.sf(abs(statistic), df=n - 1))
    return DMResult(float(statistic), p_value, mean_difference, n, horizon, fell_back)


def _long_run_variance(differential: np.ndarray, horizon: int) -> float:
    gammas = [_autocovariance(differential, lag) for lag in range(horizon)]
    return gammas[0] + 2 * sum(gammas[1:])


def verdict(result: DMResult, baseline: str, alpha: float = SIGNIFICANCE) -> str:
    """Plain words for a model-vs-baseline DM result (losses as ``model - baseline``).

    Skill is claimed only when ``p < alpha`` AND the model's mean loss is lower.

    >>> verdict(DMResult(-3.1, 0.004, -0.2, 100, 1), "naive")
    'better than naive (p=0.004)'
    >>> verdict(DMResult(-1.0, 0.32, -0.1, 100, 1), "naive")
    'no significant difference from naive (p=0.32)'
    >>> verdict(DMResult(2.5, 0.01, 0.3, 100, 1), "naive")
    'worse than naive (p=0.01)'
    """
    p_text = f"p={result.p_value:.2g}"
    if not result.p_value < alpha:
        return f"no significant difference from {baseline} ({p_text})"
    if result.mean_difference < 0:
        return f"better than {baseline} ({p_text})"
    return f"worse than {baseline} ({p_text})"


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
    pmf = stats.binom.pmf(outcomes, trials, probability)
    observed = pmf[successes]
    tolerance = 1 + 1e-7  # outcomes equally likely up to rounding count as extreme
    return float(min(1.0, pmf[pmf <= observed * tolerance].sum()))
