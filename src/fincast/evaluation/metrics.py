"""Forecast error metrics over arrays shaped ``(windows, horizon)``.

>>> import numpy as np
>>> mae(np.array([[1.0, 2.0]]), np.array([[2.0, 2.0]]))
0.5
>>> rmse(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
3.5355339059327378
"""

from __future__ import annotations

import numpy as np


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(actual, "float64") - np.asarray(forecast, "float64"))))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    error = np.asarray(actual, "float64") - np.asarray(forecast, "float64")
    return float(np.sqrt(np.mean(error**2)))


def hit_rate(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Share of non-zero forecasts whose sign matches the actual's sign; NaN if none.

    >>> hit_rate(np.array([1.0, -1.0, 2.0]), np.array([0.5, 0.5, 0.0]))
    0.5
    """
    actual, forecast = np.asarray(actual).ravel(), np.asarray(forecast).ravel()
    called = forecast != 0
    if not called.any():
        return float("nan")
    return float(np.mean(np.sign(actual[called]) == np.sign(forecast[called])))
