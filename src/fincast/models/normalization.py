"""Reversible instance normalisation (RevIN): normalise each window, restore its scale.

Kim et al., "Reversible Instance Normalization for Accurate Time-Series Forecasting
against Distribution Shift" (ICLR 2022). The statistics of each input window flow
to the output as a tensor, so the pair is two plain layers in a Functional model and
survives a ``.keras`` save and a ``safe_mode`` load:

    normalised, stats = ReversibleInstanceNorm()(window)
    ...
    forecast = InstanceDenorm(feature_index=0)([head_output, stats])
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fincast")
class ReversibleInstanceNorm(keras.layers.Layer):
    """Normalise each window over its time axis; return the window and its inverse map.

    For inputs ``(batch, time, features)`` it returns ``(normalised, stats)``:
    ``normalised = (x - mean) / std * gamma + beta`` per window and feature, and
    ``stats`` of shape ``(batch, 2, features)`` holding ``loc`` (row 0) and ``scale``
    (row 1) such that ``normalised * scale + loc`` gives back ``x``; the learnable
    affine ``gamma``/``beta`` is folded into them, so :class:`InstanceDenorm` needs no
    weights of its own.

    Args:
        epsilon: added to the variance before the square root; must be positive.
        affine: learn a per-feature ``gamma`` and ``beta``.
        **kwargs: base layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, epsilon: float = 1e-5, affine: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not float(epsilon) > 0:
            raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)
        self.affine = bool(affine)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "ReversibleInstanceNorm expects inputs (batch, time, features) with a known "
                f"feature count. Received: input_shape={input_shape}"
            )
        features = int(input_shape[-1])
        self.gamma = self.beta = None
        if self.affine:
            self.gamma = self.add_weight(shape=(features,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(features,), initializer="zeros", name="beta")

    def call(self, inputs: Any) -> tuple[Any, Any]:
        mean = ops.mean(inputs, axis=1, keepdims=True)
        std = ops.sqrt(ops.var(inputs, axis=1, keepdims=True) + self.epsilon)
        normalised = (inputs - mean) / std
        loc, scale = mean, std
        if self.gamma is not None and self.beta is not None:
            gamma = ops.cast(self.gamma, inputs.dtype)
            gamma = ops.where(ops.abs(gamma) < self.epsilon, self.epsilon, gamma)
            beta = ops.cast(self.beta, inputs.dtype)
            normalised = normalised * gamma + beta
            scale = std / gamma
            loc = mean - beta * scale
        return normalised, ops.concatenate([loc, scale], axis=1)

    def compute_output_shape(
        self, input_shape: tuple[int | None, ...]
    ) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
        return input_shape, (input_shape[0], 2, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "affine": self.affine})
        return config


@keras.saving.register_keras_serializable(package="fincast")
class InstanceDenorm(keras.layers.Layer):
    """Restore one input feature's per-window scale on a forecast: ``y * scale + loc``.

    Called on ``[outputs, stats]``, where ``stats`` comes from
    :class:`ReversibleInstanceNorm` and ``outputs`` is ``(batch, ...)`` of any rank
    (e.g. ``(batch, horizon)`` or ``(batch, horizon, quantiles)``).

    Args:
        feature_index: the input feature the forecast is in the units of (the target).
        **kwargs: base layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, feature_index: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(feature_index) < 0:
            raise ValueError(f"feature_index must be >= 0. Received: feature_index={feature_index}")
        self.feature_index = int(feature_index)

    def build(self, input_shape: Any) -> None:
        _, stats_shape = input_shape
        features = stats_shape[-1]
        if features is not None and self.feature_index >= features:
            raise ValueError(
                f"feature_index must be below the {features} normalised features. "
                f"Received: feature_index={self.feature_index}"
            )

    def call(self, inputs: Any) -> Any:
        outputs, stats = inputs
        stats = ops.cast(stats, outputs.dtype)
        shape = (-1,) + (1,) * (len(outputs.shape) - 1)
        loc = ops.reshape(stats[:, 0, self.feature_index], shape)
        scale = ops.reshape(stats[:, 1, self.feature_index], shape)
        return outputs * scale + loc

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"feature_index": self.feature_index})
        return config
