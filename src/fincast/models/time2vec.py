"""Time2Vec: a learnable linear and periodic embedding of each time step."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fincast")
class Time2Vec(keras.layers.Layer):
    """Embed each time step's inputs as one linear and ``output_dim - 1`` periodic terms.

    Kazemi et al., "Time2Vec: Learning a Vector Representation of Time" (2019). For
    each step's input vector ``x`` (``features`` wide):
    ``[x . w0 + b0, sin(x . W + b)]``, with ``w0, b0, W, b`` learned. With the time
    index as the only feature this is the paper's embedding of time; on a window of
    market features it learns periodic patterns in them.

    Args:
        output_dim: width of the embedding (1 linear + ``output_dim - 1`` periodic), >= 2.
        **kwargs: base layer arguments (``name``, ``dtype``...).

    Input shape:
        ``(batch, time, features)``.

    Output shape:
        ``(batch, time, output_dim)``.
    """

    def __init__(self, output_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(output_dim, bool) or int(output_dim) < 2:
            raise ValueError(
                f"output_dim must be an integer >= 2 (one linear, the rest periodic). "
                f"Received: output_dim={output_dim}"
            )
        self.output_dim = int(output_dim)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"Time2Vec needs a known feature count. Received: input_shape={input_shape}"
            )
        self.linear_kernel = self.add_weight(
            shape=(features, 1), initializer="glorot_uniform", name="linear_kernel"
        )
        self.linear_bias = self.add_weight(shape=(1,), initializer="zeros", name="linear_bias")
        self.periodic_kernel = self.add_weight(
            shape=(features, self.output_dim - 1),
            initializer="glorot_uniform",
            name="periodic_kernel",
        )
        self.periodic_bias = self.add_weight(
            shape=(self.output_dim - 1,), initializer="zeros", name="periodic_bias"
        )

    def call(self, inputs: Any) -> Any:
        linear = ops.matmul(inputs, self.linear_kernel) + self.linear_bias
        periodic = ops.sin(ops.matmul(inputs, self.periodic_kernel) + self.periodic_bias)
        return ops.concatenate([linear, periodic], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.output_dim)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"output_dim": self.output_dim})
        return config
