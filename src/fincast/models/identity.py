"""A global model's per-ticker parts, read from the window itself: learned ticker and sector
embeddings, and per-ticker normalisation.

A global model's windows carry identity columns (``ticker_id``, ``sector_id``:
:class:`fincast.data.recipe.FeatureRecipe`), constant over each window and
numbered from 1 in the card's vocabulary (0: a ticker or sector the model never saw).
:class:`IdentityEmbedding` looks each up in its own table and repeats it over the
lookback; :class:`TakeColumns` keeps the numeric columns for the rest of the model, so
the model keeps one input and every serving path (``.keras``, pyfunc, fast predict)
works unchanged. :class:`TickerStandardize` and :class:`TickerRescale` normalise each
window's inputs and restore its outputs with its own ticker's training-slice
statistics (``features.normalise=ticker``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

# share of training windows whose ids are hidden (row 0), so the unknown row is learned:
# the embedding of an average ticker, used for one the model never trained on
UNKNOWN_RATE = 0.05


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
        unknown_rate: while training, the share of windows whose ids become 0, so the
            unknown row learns an average ticker's (or sector's) embedding.
        seed: the seed of those draws (``None``: from Keras' global seed).
    """

    def __init__(
        self,
        columns: Sequence[int],
        sizes: Sequence[int],
        dim: int,
        unknown_rate: float = UNKNOWN_RATE,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.columns = [int(column) for column in columns]
        self.sizes = [int(size) for size in sizes]
        self.dim = int(dim)
        self.unknown_rate = float(unknown_rate)
        if not 0 <= self.unknown_rate < 1:
            raise ValueError(f"unknown_rate must be in [0, 1). Received: {unknown_rate=}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
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

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        steps = ops.shape(inputs)[1]
        embedded = []
        for column, size, table in zip(self.columns, self.sizes, self.tables, strict=True):
            ids = ops.cast(ops.round(inputs[:, -1, column]), "int32")
            unknown = (ids < 0) | (ids >= size)
            if training and self.unknown_rate > 0:  # train row 0, the unknown ticker's
                draws = keras.random.uniform(ops.shape(ids), seed=self.seed_generator)
                unknown = unknown | (draws < self.unknown_rate)
            ids = ops.where(unknown, ops.zeros_like(ids), ids)
            embedded.append(ops.take(ops.cast(table, inputs.dtype), ids, axis=0))
        joined = ops.concatenate(embedded, axis=-1)[:, None, :]
        return ops.repeat(joined, steps, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[1], self.dim * len(self.columns))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "columns": self.columns,
                "sizes": self.sizes,
                "dim": self.dim,
                "unknown_rate": self.unknown_rate,
                "seed": self.seed,
            }
        )
        return config


def _id_lookup(table: Any, window: Any, column: int) -> Any:
    """Row ``id`` of ``table`` for each window (its last step's id; unknown ids: row 0)."""
    ids = ops.cast(ops.round(window[:, -1, column]), "int32")
    rows = ops.shape(table)[0]
    ids = ops.where((ids < 0) | (ids >= rows), ops.zeros_like(ids), ids)
    return ops.take(ops.cast(table, window.dtype), ids, axis=0)


def _constant_table(layer: keras.layers.Layer, values: list[list[float]], name: str) -> Any:
    return layer.add_weight(
        shape=(len(values), len(values[0])),
        initializer=keras.initializers.Constant(values),
        trainable=False,
        name=name,
    )


@keras.saving.register_keras_serializable(package="fincast")
class TickerStandardize(keras.layers.Layer):
    """Standardise each window by its ticker's training-slice mean and variance.

    Args:
        column: the window's ``ticker_id`` column.
        mean: one row of per-column means per ticker id (row 0: every ticker pooled,
            for a ticker the model never saw).
        variance: the matching variances (positive).
    """

    def __init__(
        self,
        column: int,
        mean: Sequence[Sequence[float]],
        variance: Sequence[Sequence[float]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.column = int(column)
        self.mean = [[float(value) for value in row] for row in mean]
        self.variance = [[float(value) for value in row] for row in variance]
        if not self.mean or len(self.mean) != len(self.variance):
            raise ValueError("TickerStandardize needs one mean and one variance row per id.")
        if any(value <= 0 for row in self.variance for value in row):
            raise ValueError("Every variance must be positive.")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.mean_table = _constant_table(self, self.mean, "mean")
        self.variance_table = _constant_table(self, self.variance, "variance")

    def call(self, inputs: Any) -> Any:
        mean = _id_lookup(self.mean_table, inputs, self.column)[:, None, :]
        variance = _id_lookup(self.variance_table, inputs, self.column)[:, None, :]
        return (inputs - mean) / ops.sqrt(variance)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"column": self.column, "mean": self.mean, "variance": self.variance})
        return config


@keras.saving.register_keras_serializable(package="fincast")
class TickerRescale(keras.layers.Layer):
    """Map normalised outputs back to each window's ticker's units: ``y * scale + offset``.

    Called on ``[outputs, window]``: ``outputs`` is ``(batch, horizon)`` or
    ``(batch, horizon, quantiles)``; ``offset`` and ``scale`` hold one row of
    ``horizon`` values per ticker id (row 0: every ticker pooled).
    """

    def __init__(
        self,
        column: int,
        offset: Sequence[Sequence[float]],
        scale: Sequence[Sequence[float]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.column = int(column)
        self.offset = [[float(value) for value in row] for row in offset]
        self.scale = [[float(value) for value in row] for row in scale]
        if not self.offset or len(self.offset) != len(self.scale):
            raise ValueError("TickerRescale needs one offset and one scale row per id.")
        if any(value <= 0 for row in self.scale for value in row):
            raise ValueError("Every scale must be positive.")

    def build(self, input_shape: Any) -> None:
        self.offset_table = _constant_table(self, self.offset, "offset")
        self.scale_table = _constant_table(self, self.scale, "scale")

    def call(self, inputs: Any) -> Any:
        outputs, window = inputs
        offset = _id_lookup(self.offset_table, window, self.column)
        scale = _id_lookup(self.scale_table, window, self.column)
        if len(outputs.shape) == 3:  # quantiles: the same map for every level
            offset, scale = offset[:, :, None], scale[:, :, None]
        return outputs * ops.cast(scale, outputs.dtype) + ops.cast(offset, outputs.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"column": self.column, "offset": self.offset, "scale": self.scale})
        return config
