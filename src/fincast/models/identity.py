"""Learned ticker and sector embeddings for global models, read from the window itself.

A global model's windows carry identity columns (``ticker_id``, ``sector_id``:
:class:`fincast.data.covariates.FeatureRecipe`), constant over each window and
numbered from 1 in the card's vocabulary (0: a ticker or sector the model never saw).
:class:`IdentityEmbedding` looks each up in its own table and repeats it over the
lookback; :class:`TakeColumns` keeps the numeric columns for the rest of the model, so
the model keeps one input and every serving path (``.keras``, pyfunc, fast predict)
works unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fincast")
class TakeColumns(keras.layers.Layer):
    """Keep ``columns`` of the last axis, in that order."""

    def __init__(self, columns: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = [int(column) for column in columns]
        if not self.columns:
            raise ValueError("TakeColumns needs at least one column. Received: columns=[]")

    def call(self, inputs: Any) -> Any:
        return ops.take(inputs, self.columns, axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], len(self.columns))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "columns": self.columns}


@keras.saving.register_keras_serializable(package="fincast")
class IdentityEmbedding(keras.layers.Layer):
    """Embed the identity columns of each window, repeated over its steps.

    Args:
        columns: the window's identity columns (ids from 1; 0 is unknown).
        sizes: each column's vocabulary size, unknown included.
        dim: the embedding width of each column.
    """

    def __init__(self, columns: Sequence[int], sizes: Sequence[int], dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.columns = [int(column) for column in columns]
        self.sizes = [int(size) for size in sizes]
        self.dim = int(dim)
        if len(self.columns) != len(self.sizes) or not self.columns or self.dim < 1:
            raise ValueError(
                "IdentityEmbedding needs one size per column and dim >= 1. "
                f"Received: columns={self.columns}, sizes={self.sizes}, dim={self.dim}"
            )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.tables = [
            self.add_weight(
                shape=(size, self.dim),
                initializer=keras.initializers.RandomNormal(stddev=0.05),
                name=f"table_{index}",
            )
            for index, size in enumerate(self.sizes)
        ]

    def call(self, inputs: Any) -> Any:
        steps = ops.shape(inputs)[1]
        embedded = []
        for column, size, table in zip(self.columns, self.sizes, self.tables, strict=True):
            ids = ops.cast(ops.round(inputs[:, -1, column]), "int32")
            ids = ops.where((ids < 0) | (ids >= size), ops.zeros_like(ids), ids)
            embedded.append(ops.take(ops.cast(table, inputs.dtype), ids, axis=0))
        joined = ops.concatenate(embedded, axis=-1)[:, None, :]
        return ops.repeat(joined, steps, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[1], self.dim * len(self.columns))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"columns": self.columns, "sizes": self.sizes, "dim": self.dim})
        return config
