"""Honest baselines with the model's interface: windows in, ``(n, horizon)`` forecasts out.

>>> import numpy as np
>>> naive_returns(np.zeros((2, 5, 1)), horizon=3).shape
(2, 3)
"""

from __future__ import annotations

import numpy as np


def naive_returns(inputs: np.ndarray, *, horizon: int) -> np.ndarray:
    """Random walk: tomorrow's price is today's, so every forecast return is zero."""
    return np.zeros((len(inputs), horizon), dtype="float32")


def historical_mean_returns(inputs: np.ndarray, *, horizon: int, train_mean: float) -> np.ndarray:
    """The training slice's mean return, for every window and horizon step.

    >>> historical_mean_returns(np.zeros((1, 5, 1)), horizon=2, train_mean=0.5).tolist()
    [[0.5, 0.5]]
    """
    return np.full((len(inputs), horizon), train_mean, dtype="float32")
