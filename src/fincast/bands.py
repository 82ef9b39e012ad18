"""Price bands from per-step quantile forecasts: quantiles of the cumulative k-day log return.

A quantile model forecasts the quantiles of each day's log return. The price at step
``k`` is ``last_price * exp(r_1 + ... + r_k)``, so its band needs the quantiles of that
*sum*, and quantiles do not add: summing the 0.9 quantiles of five days gives a level far
above 0.9 (the old band, ``last * exp(cumsum(q))``, held about 99% at step 5).

Method (:data:`METHOD`), a normal approximation of independent daily steps:

* each day ``i``'s log return is treated as independent of the others, centred on its
  forecast median ``m_i``, with a spread on each side read off that day's quantiles:
  ``sigma_i(tau) = (q_i(tau) - m_i) / z_tau``, ``z_tau`` the standard normal quantile of
  ``tau`` (a side whose quantile crosses the median has spread 0);
* a sum of independent normals is normal with the summed means and variances, so the
  ``tau`` quantile of the k-day log return is
  ``sum(m_1..m_k) + z_tau * sqrt(sigma_1(tau)^2 + ... + sigma_k(tau)^2)``;
* the price band is ``last_price * exp`` of those quantiles (``exp`` keeps quantiles).

Step 1 gives the model's own quantiles back; a skewed forecast keeps its skew (each side
is scaled on its own: a split-normal approximation); the levels are put back in order
where a very uneven fan would cross them. Numpy and the standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

from fincast.quantiles import check_quantiles, median_index

METHOD = "cumulative-return quantiles, normal approximation of independent daily steps"


def cumulative_quantiles(step_quantiles: ArrayLike, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of the cumulative log return over steps ``1..k``, for every ``k``.

    Args:
        step_quantiles: per-step log-return quantiles ``(..., horizon, len(levels))``.
        levels: the quantile levels, increasing, with 0.5 among them.

    Returns:
        An array of the same shape: at ``[..., k - 1, j]`` the ``levels[j]`` quantile of
        the sum of the first ``k`` steps' log returns (see the module's method).

    Raises:
        ValueError: levels without 0.5, or levels that do not match the last axis.

    >>> cumulative_quantiles([[-0.01, 0.0, 0.01]] * 4, [0.1, 0.5, 0.9])[:, 2].round(4).tolist()
    [0.01, 0.0141, 0.0173, 0.02]
    """
    quantiles = np.asarray(step_quantiles, dtype="float64")
    values = check_quantiles(levels)
    middle = median_index(values)
    if quantiles.ndim < 2 or quantiles.shape[-1] != len(values):
        raise ValueError(
            f"Per-step quantiles need the shape (..., horizon, {len(values)}) for the levels "
            f"{values}. Received: shape={quantiles.shape}"
        )
    median = quantiles[..., middle]
    centre = np.cumsum(median, axis=-1)
    result = np.empty_like(quantiles)
    for index, level in enumerate(values):
        if index == middle:
            result[..., index] = centre
            continue
        z = NormalDist().inv_cdf(level)
        spread = np.maximum((quantiles[..., index] - median) / z, 0.0)
        result[..., index] = centre + z * np.sqrt(np.cumsum(spread**2, axis=-1))
    return np.sort(result, axis=-1)


def price_quantiles(
    last_price: ArrayLike, step_quantiles: ArrayLike, levels: Sequence[float]
) -> np.ndarray:
    """Price quantiles per step: ``last_price * exp`` of :func:`cumulative_quantiles`.

    Args:
        last_price: the last close, a number or one per forecast ``(...)``.
        step_quantiles: per-step log-return quantiles ``(..., horizon, len(levels))``.
        levels: the quantile levels, increasing, with 0.5 among them.

    >>> price_quantiles(100.0, [[-0.01, 0.0, 0.01]] * 2, [0.1, 0.5, 0.9]).round(2).tolist()
    [[99.0, 100.0, 101.01], [98.6, 100.0, 101.42]]
    """
    last = np.asarray(last_price, dtype="float64")[..., None, None]
    return last * np.exp(cumulative_quantiles(step_quantiles, levels))


def band_label(low: float, high: float) -> str:
    """What a band is, for a chart legend and a table caption.

    >>> band_label(0.1, 0.9)
    '80% band (quantiles 0.1 to 0.9), cumulative-return quantiles, normal approximation \
of independent daily steps'
    """
    return f"{high - low:.0%} band (quantiles {low:g} to {high:g}), {METHOD}"
