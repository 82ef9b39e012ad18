"""The loss each task is judged by, per forecast value (for Diebold-Mariano) and on average.

``returns``: squared error of the log returns. ``volatility``: QLIKE of the variances
implied by the annualised volatilities (Patton, 2011: robust to a noisy proxy).

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


LOSS_VALUES: dict[str, LossValues] = {"returns": squared_errors, "volatility": volatility_qlike}
LOSS_NAMES = {"returns": "squared error", "volatility": "QLIKE"}


def loss_values(task: str) -> LossValues:
    """The per-value loss of ``task``.

    Raises:
        ValueError: an unknown task.
    """
    if task not in LOSS_VALUES:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(LOSS_VALUES)}.")
    return LOSS_VALUES[task]


def mean_squared_error(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean squared error (the returns task's loss)."""
    return float(np.mean(squared_errors(actual, forecast)))


def mean_qlike(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean QLIKE of volatility forecasts (the volatility task's loss)."""
    return float(np.mean(volatility_qlike(actual, forecast)))


def task_loss(task: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The mean loss of ``task`` (picklable: a module-level function)."""
    loss_values(task)
    return mean_squared_error if task == "returns" else mean_qlike
