"""Forecast error metrics over arrays shaped ``(windows, horizon)`` (quantiles: ``(..., q)``).

Every metric is a plain function of numpy arrays that returns a Python float and
scores in float64, whatever the input dtype.

>>> import numpy as np
>>> mae(np.array([[1.0, 2.0]]), np.array([[2.0, 2.0]]))
0.5
>>> rmse(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
3.5355339059327378
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

# Variances below this are treated as this, so QLIKE stays finite on a flat day.
MIN_VARIANCE = 1e-12


def _pair(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(actual, "float64"), np.asarray(forecast, "float64")


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute error."""
    actual, forecast = _pair(actual, forecast)
    return float(np.mean(np.abs(actual - forecast)))


def mse(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean squared error.

    >>> mse([1.0, 2.0], [1.0, 4.0])
    2.0
    """
    actual, forecast = _pair(actual, forecast)
    return float(np.mean((actual - forecast) ** 2))


def rmse(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(actual, forecast)))


def mase(actual: ArrayLike, forecast: ArrayLike, scale: ArrayLike) -> float:
    """Mean absolute scaled error: absolute errors divided by an in-sample naive MAE.

    Args:
        actual: realised values, ``(n, horizon)`` or ``(n,)``.
        forecast: forecasts of the same shape.
        scale: the in-sample one-step naive MAE of the series each row's model was
            fitted on (Hyndman & Koehler, 2006): a scalar, or one value per row when
            the rows come from walk-forward folds with different training slices.

    >>> mase([[10.0, 12.0]], [[11.0, 11.0]], scale=2.0)
    0.5
    """
    actual, forecast = _pair(actual, forecast)
    scale = np.asarray(scale, "float64")
    if np.any(scale <= 0):
        raise ValueError(f"mase needs a positive scale. Received: scale min={scale.min()}")
    errors = np.abs(actual - forecast)
    scale = scale.reshape(scale.shape + (1,) * (errors.ndim - scale.ndim))
    return float(np.mean(errors / scale))


def naive_scale(series: ArrayLike) -> float:
    """In-sample MAE of the one-step naive forecast: ``mean |y_t - y_{t-1}|``.

    >>> naive_scale([1.0, 2.0, 4.0])
    1.5
    """
    values = np.asarray(series, "float64")
    if values.size < 2:
        raise ValueError(f"naive_scale needs at least 2 values. Received: {values.size}")
    return float(np.mean(np.abs(np.diff(values))))


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Symmetric MAPE in percent, ``200 * mean(|F - A| / (|A| + |F|))``, in ``[0, 200]``.

    A pair with ``A = F = 0`` counts as a zero error.

    >>> smape([100.0, 200.0], [110.0, 200.0])
    4.761904761904762
    """
    actual, forecast = _pair(actual, forecast)
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        np.abs(forecast - actual),
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
    return float(200.0 * np.mean(ratio))


def hit_rate(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Share of non-zero forecasts whose sign matches the actual's sign; NaN if none.

    >>> hit_rate(np.array([1.0, -1.0, 2.0]), np.array([0.5, 0.5, 0.0]))
    0.5
    """
    hits, calls = direction_counts(actual, forecast)
    return float("nan") if calls == 0 else hits / calls


def direction_counts(actual: ArrayLike, forecast: ArrayLike) -> tuple[int, int]:
    """``(hits, calls)``: forecasts with a non-zero sign, and those matching the actual's.

    >>> direction_counts([1.0, -1.0, 2.0], [0.5, 0.5, 0.0])
    (1, 2)
    """
    actual_flat = np.asarray(actual).ravel()
    forecast_flat = np.asarray(forecast).ravel()
    called = forecast_flat != 0
    hits = np.sign(actual_flat[called]) == np.sign(forecast_flat[called])
    return int(hits.sum()), int(called.sum())


def chance_hit_rate(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Hit rate expected by chance: ``p q + (1 - p)(1 - q)`` over the called days.

    ``p`` is the share of up days and ``q`` the share of up calls. A forecaster that
    is always long scores ``p`` (the up-day share) without any skill, so a hit rate
    is judged against this rate, not against one half (as in Pesaran & Timmermann, 1992).

    >>> chance_hit_rate([1.0, 1.0, 1.0, -1.0], [1.0, 1.0, 1.0, 1.0])
    0.75
    """
    actual_flat = np.asarray(actual).ravel()
    forecast_flat = np.asarray(forecast).ravel()
    called = forecast_flat != 0
    if not called.any():
        return float("nan")
    up = float(np.mean(actual_flat[called] > 0))
    up_calls = float(np.mean(forecast_flat[called] > 0))
    return up * up_calls + (1 - up) * (1 - up_calls)


def pinball_loss(actual: ArrayLike, quantiles: ArrayLike, levels: Sequence[float]) -> float:
    """Mean pinball (quantile) loss over every window, step and quantile level.

    Args:
        actual: realised values, ``(n, horizon)``.
        quantiles: forecast quantiles, ``(n, horizon, len(levels))``.
        levels: the quantile levels in ``(0, 1)``, one per last axis entry.

    >>> round(pinball_loss([[1.0]], [[[0.0, 2.0]]], levels=[0.1, 0.9]), 6)
    0.1
    """
    actual, quantiles = _pair(actual, quantiles)
    tau = np.asarray(levels, "float64")
    if quantiles.shape[-1] != tau.size or np.any((tau <= 0) | (tau >= 1)):
        raise ValueError(
            f"levels must be {quantiles.shape[-1]} values in (0, 1). Received: levels={levels}"
        )
    error = actual[..., None] - quantiles
    return float(np.mean(np.maximum(tau * error, (tau - 1) * error)))


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actual values inside ``[lower, upper]`` (empirical interval coverage).

    >>> coverage([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 2.5, 5.0])
    0.75
    """
    actual = np.asarray(actual, "float64")
    inside = (actual >= np.asarray(lower, "float64")) & (actual <= np.asarray(upper, "float64"))
    return float(np.mean(inside))


def qlike_losses(actual_variance: ArrayLike, forecast_variance: ArrayLike) -> np.ndarray:
    """QLIKE loss per value: ``s/h - log(s/h) - 1`` for realised ``s`` and forecast ``h``.

    Patton (2011): robust to noise in the realised-variance proxy; zero when ``h = s``;
    penalises under-forecasts more than over-forecasts. Values are floored at
    :data:`MIN_VARIANCE`.

    >>> qlike_losses([1.0, 4.0], [1.0, 2.0]).round(4).tolist()
    [0.0, 0.3069]
    """
    actual, forecast = _pair(actual_variance, forecast_variance)
    ratio = np.maximum(actual, MIN_VARIANCE) / np.maximum(forecast, MIN_VARIANCE)
    return np.asarray(ratio - np.log(ratio) - 1.0)


def qlike(actual_variance: ArrayLike, forecast_variance: ArrayLike) -> float:
    """Mean QLIKE loss of variance forecasts (see :func:`qlike_losses`).

    >>> qlike([1.0, 4.0], [1.0, 4.0])
    0.0
    """
    return float(np.mean(qlike_losses(actual_variance, forecast_variance)))
