"""Quantile levels and the one way fincast takes the point forecast of a quantile forecast.

A quantile forecast is an array ``(..., len(levels))``; its point forecast is the
0.5 quantile, so every quantile forecaster must forecast 0.5. Training, evaluation
and serving all take the median here (numpy only: no Keras import).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


def check_quantiles(quantiles: Sequence[float]) -> list[float]:
    """``quantiles`` as floats, or a ValueError unless strictly increasing inside (0, 1).

    >>> check_quantiles([0.1, 0.5, 0.9])
    [0.1, 0.5, 0.9]
    """
    values = [float(value) for value in quantiles]
    increasing = all(low < high for low, high in itertools.pairwise(values))
    if not values or not increasing or values[0] <= 0.0 or values[-1] >= 1.0:
        raise ValueError(
            "quantiles must be a non-empty, strictly increasing list of values in (0, 1), "
            f"e.g. [0.1, 0.5, 0.9]. Received: quantiles={list(quantiles)}"
        )
    return values


def median_index(quantiles: Sequence[float]) -> int:
    """Position of the 0.5 quantile, whose forecast is the point forecast.

    Raises:
        ValueError: 0.5 is not among ``quantiles``.

    >>> median_index([0.1, 0.5, 0.9])
    1
    """
    values = check_quantiles(quantiles)
    if 0.5 not in values:
        raise ValueError(
            "quantiles must include 0.5 (its forecast is the point forecast scored against "
            f"the baselines). Received: quantiles={values}"
        )
    return values.index(0.5)


def point_forecast(forecast: np.ndarray, levels: Sequence[float] | None = None) -> np.ndarray:
    """The point forecast: ``forecast`` itself, or the median of a quantile forecast.

    Args:
        forecast: point forecasts, or quantile forecasts with the levels on the last axis.
        levels: the quantile levels; ``None`` for point forecasts.

    Raises:
        ValueError: levels without 0.5, or levels that do not match the last axis.

    >>> point_forecast(np.array([[[1.0, 2.0, 4.0]]]), levels=[0.1, 0.5, 0.9]).tolist()
    [[2.0]]
    """
    array = np.asarray(forecast)
    if not levels:
        return array
    if array.shape[-1] != len(levels):
        raise ValueError(
            f"A forecast of {len(levels)} quantiles needs them on its last axis. "
            f"Received: shape={array.shape}, levels={list(levels)}"
        )
    return array[..., median_index(levels)]
