"""Task losses, per forecast value (for Diebold-Mariano) and on average.

Squared error scores log returns; QLIKE scores the variances implied by annualised
volatilities (Patton, 2011: robust to a noisy proxy). Which task uses which is said
in :mod:`fincast.evaluation.tasks`.

>>> import numpy as np
>>> squared_errors(np.array([[0.01]]), np.array([[0.0]])).tolist()
[[0.0001]]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fincast.evaluation.metrics import qlike_losses
from fincast.evaluation.targets import to_variance

LossValues = Callable[[np.ndarray, np.ndarray], np.ndarray]


def squared_errors(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """``(actual - forecast)^2`` per value."""
    return (np.asarray(actual, "float64") - np.asarray(forecast, "float64")) ** 2


def volatility_qlike(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """QLIKE per value of annualised-volatility forecasts, scored on their variances."""
    return qlike_losses(to_variance(actual), to_variance(forecast))


def mean_squared_error(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean squared error (the returns task's loss)."""
    return float(np.mean(squared_errors(actual, forecast)))


def mean_qlike(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean QLIKE of volatility forecasts (the volatility task's loss)."""
    return float(np.mean(volatility_qlike(actual, forecast)))
