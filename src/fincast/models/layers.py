"""fincast's custom Keras layers: ``keras.ops`` maths only, serialisable by name."""

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
    """

    def __init__(self, offset: Sequence[float], scale: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        offset, scale = [float(value) for value in offset], [float(value) for value in scale]
        if len(offset) != len(scale) or not offset:
            raise ValueError(
                "offset and scale must be non-empty and of equal length. "
                f"Received: offset={offset}, scale={scale}"
            )
        if any(value <= 0 for value in scale):
            raise ValueError(f"Every scale must be positive. Received: scale={scale}")
        self.offset = offset
        self.scale = scale

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if input_shape[-1] != len(self.scale):
            raise ValueError(
                f"Rescale holds {len(self.scale)} values but its input has "
                f"{input_shape[-1]} features. Received: input_shape={input_shape}"
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
        return inputs * ops.cast(self.scale_weight, inputs.dtype) + ops.cast(
            self.offset_weight, inputs.dtype
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"offset": list(self.offset), "scale": list(self.scale)})
        return config
