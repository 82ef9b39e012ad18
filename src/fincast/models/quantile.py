"""Quantile forecasts: a non-crossing output head and how to score its output.

A quantile forecaster outputs ``(batch, horizon, quantiles)``; the median column is
its point forecast, and the outer columns bound its central prediction interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from fincast.quantiles import check_quantiles


@keras.saving.register_keras_serializable(package="fincast")
class QuantileHead(keras.layers.Layer):
    """Dense head giving ``horizon`` forecasts per quantile that never cross.

    For each horizon step the lowest quantile is a free linear output and each higher
    one adds a ``softplus`` increment, so the outputs are non-decreasing across the
    quantile axis for every input.

    Args:
        horizon: forecast steps, >= 1.
        quantiles: the quantile levels, strictly increasing in (0, 1).
        **kwargs: base layer arguments (``name``, ``dtype``...).

    Input shape:
        ``(batch, units)``.

    Output shape:
        ``(batch, horizon, len(quantiles))``.
    """

    def __init__(self, horizon: int, quantiles: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(horizon, bool) or int(horizon) < 1:
            raise ValueError(f"horizon must be a positive integer. Received: horizon={horizon}")
        self.horizon = int(horizon)
        self.quantiles = check_quantiles(quantiles)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        units = input_shape[-1]
        if len(input_shape) != 2 or units is None:
            raise ValueError(
                f"QuantileHead expects (batch, units) inputs. Received: input_shape={input_shape}"
            )
        outputs = self.horizon * len(self.quantiles)
        self.kernel = self.add_weight(
            shape=(units, outputs), initializer="glorot_uniform", name="kernel"
        )
        self.bias = self.add_weight(shape=(outputs,), initializer="zeros", name="bias")

    def call(self, inputs: Any) -> Any:
        raw = ops.matmul(inputs, self.kernel) + self.bias
        raw = ops.reshape(raw, (-1, self.horizon, len(self.quantiles)))
        base = raw[..., :1]
        if len(self.quantiles) == 1:
            return base
        steps = ops.cumsum(ops.softplus(raw[..., 1:]), axis=-1)
        return ops.concatenate([base, base + steps], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.horizon, len(self.quantiles))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"horizon": self.horizon, "quantiles": list(self.quantiles)})
        return config


def pinball_score(actual: np.ndarray, forecast: np.ndarray, quantiles: Sequence[float]) -> float:
    """Mean pinball (quantile) loss of ``forecast`` ``(n, horizon, q)`` against ``actual``.

    >>> float(pinball_score(np.zeros((1, 1)), np.ones((1, 1, 1)), [0.9]))
    0.1
    """
    levels = np.asarray(check_quantiles(quantiles), "float64")
    error = np.asarray(actual, "float64")[..., None] - np.asarray(forecast, "float64")
    return float(np.mean(np.maximum(levels * error, (levels - 1.0) * error)))


def interval_coverage(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Share of ``actual`` values inside the outermost quantiles of ``forecast``.

    >>> float(interval_coverage(np.array([[0.0, 2.0]]), np.array([[[-1, 1], [-1, 1]]])))
    0.5
    """
    actual = np.asarray(actual, "float64")
    inside = (actual >= forecast[..., 0]) & (actual <= forecast[..., -1])
    return float(np.mean(inside))


def quantile_scores(
    actual: np.ndarray, forecast: np.ndarray, quantiles: Sequence[float]
) -> dict[str, float]:
    """Pinball loss and the outer interval's empirical vs nominal coverage.

    Returns:
        ``{"pinball": ..., "coverage": ..., "coverage_target": ...}``; a well
        calibrated model has ``coverage`` close to ``coverage_target``.
    """
    levels = check_quantiles(quantiles)
    return {
        "pinball": pinball_score(actual, forecast, levels),
        "coverage": interval_coverage(actual, forecast),
        "coverage_target": round(levels[-1] - levels[0], 10),
    }
