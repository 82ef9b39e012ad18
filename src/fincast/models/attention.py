"""Temporal attention pooling: a learned weighted average over a sequence's time steps."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fincast")
class TemporalAttentionPooling(keras.layers.Layer):
    """Pool ``(batch, time, channels)`` to ``(batch, channels)`` with additive attention.

    Bahdanau-style scores ``v . tanh(h_t W + b)`` per time step, a softmax over time,
    and the weighted sum of the steps. :meth:`attention_weights` returns the weights
    (they sum to 1 over time for every window), e.g. to chart which days mattered.

    Args:
        units: width of the scoring layer, >= 1.
        **kwargs: base layer arguments (``name``, ``dtype``...).
    """

    def __init__(self, units: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(units, bool) or int(units) < 1:
            raise ValueError(f"units must be a positive integer. Received: units={units}")
        self.units = int(units)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "TemporalAttentionPooling expects (batch, time, channels) with known channels. "
                f"Received: input_shape={input_shape}"
            )
        channels = int(input_shape[-1])
        self.kernel = self.add_weight(
            shape=(channels, self.units), initializer="glorot_uniform", name="kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.score_vector = self.add_weight(
            shape=(self.units, 1), initializer="glorot_uniform", name="score_vector"
        )

    def attention_weights(self, inputs: Any) -> Any:
        """Softmax weights over time, ``(batch, time)``; each row sums to 1."""
        if not self.built:
            self.build(tuple(inputs.shape))
        hidden = ops.tanh(ops.matmul(inputs, self.kernel) + self.bias)
        scores = ops.squeeze(ops.matmul(hidden, self.score_vector), axis=-1)
        return ops.softmax(scores, axis=-1)

    def call(self, inputs: Any) -> Any:
        weights = self.attention_weights(inputs)
        return ops.sum(inputs * ops.expand_dims(weights, axis=-1), axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"units": self.units})
        return config
