"""fincast's losses: pinball for quantile forecasts, QLIKE for variance forecasts.

Both are ``keras.losses.Loss`` subclasses registered under the ``fincast`` package,
so a compiled model that uses them saves and loads by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from fincast.models.quantile import check_quantiles


@keras.saving.register_keras_serializable(package="fincast")
class PinballLoss(keras.losses.Loss):
    """Pinball (quantile) loss averaged over quantile levels.

    For a level ``q`` and error ``e = y - y_hat``: ``max(q * e, (q - 1) * e)``; its
    minimiser is the ``q`` quantile of ``y``. ``y_true`` is ``(batch, horizon)``;
    ``y_pred`` is ``(batch, horizon, len(quantiles))`` (``y_true`` is broadcast across
    the quantile axis).

    Args:
        quantiles: the levels of ``y_pred``'s last axis, strictly increasing in (0, 1).
        name: the loss name.
        **kwargs: base loss arguments (``reduction``, ``dtype``).
    """

    def __init__(self, quantiles: Sequence[float], name: str = "pinball", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.quantiles = check_quantiles(quantiles)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        if len(y_true.shape) == len(y_pred.shape) - 1:
            y_true = ops.expand_dims(y_true, axis=-1)
        levels = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        error = y_true - y_pred
        return ops.mean(ops.maximum(levels * error, (levels - 1.0) * error), axis=-1)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update({"quantiles": list(self.quantiles)})
        return config


@keras.saving.register_keras_serializable(package="fincast")
class QLikeLoss(keras.losses.Loss):
    """QLIKE loss for variance forecasts: ``y / h - log(y / h) - 1``.

    Patton (2011), "Volatility forecast comparison using imperfect volatility
    proxies": robust to noise in the realised-variance proxy ``y`` (e.g. squared
    returns); zero when ``h == y``, and it penalises under-prediction more than
    over-prediction. Both ``y`` and the forecast ``h`` are clipped below at
    ``epsilon`` so zero proxies and non-positive forecasts stay finite.

    Args:
        epsilon: floor of ``y`` and ``h``; must be positive.
        name: the loss name.
        **kwargs: base loss arguments (``reduction``, ``dtype``).
    """

    def __init__(self, epsilon: float = 1e-12, name: str = "qlike", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if not float(epsilon) > 0:
            raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        ratio = ops.maximum(y_true, self.epsilon) / ops.maximum(y_pred, self.epsilon)
        return ops.mean(ratio - ops.log(ratio) - 1.0, axis=-1)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
