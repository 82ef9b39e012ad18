"""fincast's custom Keras layers: ``keras.ops`` maths only, serialisable by name.

Importing this module registers every fincast layer and loss, so a saved model
loads with ``safe_mode=True``; the layers live in small modules re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fincast")
class Rescale(keras.layers.Layer):
    """Map normalised outputs back to real units: ``outputs * scale + offset``.

    Holds the target's training-slice statistics inside the model, so a saved
    model turns raw inputs into forecasts in real units on any backend.

    Args:
        offset: per-output additive term (e.g. the training targets' mean).
        scale: per-output multiplier (e.g. the training targets' standard deviation);
            every value must be positive.
        axis: the input axis the values run along: ``-1`` for point forecasts
            ``(batch, horizon)``, ``1`` for quantile forecasts ``(batch, horizon, quantiles)``.
        **kwargs: base layer arguments (``name``, ``dtype``...).
    """

    def __init__(
        self, offset: Sequence[float], scale: Sequence[float], axis: int = -1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        offset, scale = [float(value) for value in offset], [float(value) for value in scale]
        if len(offset) != len(scale) or not offset:
            raise ValueError(
                "offset and scale must be non-empty and of equal length. "
                f"Received: offset={offset}, scale={scale}"
            )
        if any(value <= 0 for value in scale):
            raise ValueError(f"Every scale must be positive. Received: scale={scale}")
        if axis == 0:
            raise ValueError(f"axis cannot be the batch axis. Received: axis={axis}")
        self.offset = offset
        self.scale = scale
        self.axis = int(axis)

    def _trailing_ones(self, rank: int) -> int:
        return rank - 1 - self.axis % rank

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"axis must name a non-batch axis of the input. Received: axis={self.axis}, "
                f"input_shape={input_shape}"
            )
        if input_shape[self.axis] != len(self.scale):
            raise ValueError(
                f"Rescale holds {len(self.scale)} values but its input has "
                f"{input_shape[self.axis]} features. Received: input_shape={input_shape}"
            )
        self.offset_weight = self.add_weight(
            shape=(len(self.offset),),
            initializer=keras.initializers.Constant(self.offset),
            trainable=False,
            name="offset",
        )
        self.scale_weight = self.add_weight(
            shape=(len(self.scale),),
            initializer=keras.initializers.Constant(self.scale),
            trainable=False,
            name="scale",
        )

    def call(self, inputs: Any) -> Any:
        shape = (len(self.scale),) + (1,) * self._trailing_ones(len(inputs.shape))
        scale = ops.reshape(ops.cast(self.scale_weight, inputs.dtype), shape)
        offset = ops.reshape(ops.cast(self.offset_weight, inputs.dtype), shape)
        return inputs * scale + offset

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"offset": list(self.offset), "scale": list(self.scale), "axis": self.axis})
        return config


# Re-exported so that importing this module registers every fincast layer and loss.
from fincast.models.attention import TemporalAttentionPooling  # noqa: E402
from fincast.models.identity import (  # noqa: E402
    IdentityEmbedding,
    TakeColumns,
    TickerRescale,
    TickerStandardize,
)
from fincast.models.losses import PinballLoss, QLikeLoss  # noqa: E402
from fincast.models.normalization import InstanceDenorm, ReversibleInstanceNorm  # noqa: E402
from fincast.models.quantile import QuantileHead  # noqa: E402
from fincast.models.time2vec import Time2Vec  # noqa: E402

__all__ = [
    "IdentityEmbedding",
    "InstanceDenorm",
    "PinballLoss",
    "QLikeLoss",
    "QuantileHead",
    "Rescale",
    "ReversibleInstanceNorm",
    "TakeColumns",
    "TemporalAttentionPooling",
    "TickerRescale",
    "TickerStandardize",
    "Time2Vec",
]
