"""Windows gathered one batch at a time, for ``fit`` and ``predict`` on every backend.

:class:`WindowBatches` is a ``keras.utils.PyDataset`` over a
:class:`fincast.data.windows.WindowArray` and its targets: each batch gathers its
windows from the shared feature rows, so memory holds the rows, the targets and one
batch, never the universe's windows. Shuffling is a fresh permutation of the windows
each epoch from a seeded generator, so a CPU fit repeats exactly.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from fincast.data.windows import WindowArray, as_window_array

PREDICT_BATCH = 1024


class WindowBatches(keras.utils.PyDataset):
    """Batches of ``(windows, targets)`` (or windows only), gathered on demand.

    Args:
        inputs: the windows (a :class:`WindowArray`, or an array, which is wrapped).
        targets: ``(n, ...)`` targets, or ``None`` for prediction.
        batch_size: windows per batch.
        shuffle: a new order of the windows each epoch (training); in order otherwise.
        seed: the generator's seed for the shuffles.
        multiple_of: every batch's size is a multiple of this: the last, smaller batch
            is cut to one (data parallelism splits each batch evenly over the devices).
    """

    def __init__(
        self,
        inputs: Any,
        targets: np.ndarray | None = None,
        *,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int = 0,
        multiple_of: int = 1,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: {batch_size=}")
        self.inputs = inputs if isinstance(inputs, WindowArray) else as_window_array(inputs)
        self.targets = None if targets is None else np.asarray(targets)
        if self.targets is not None and len(self.targets) != len(self.inputs):
            raise ValueError(
                f"inputs and targets differ in length: {len(self.inputs)} != {len(self.targets)}"
            )
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.multiple_of = int(multiple_of)
        if self.batch_size % self.multiple_of:
            raise ValueError(
                f"batch_size must be a multiple of {self.multiple_of}. Received: {batch_size=}"
            )
        self._generator = np.random.default_rng(seed)
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        count = len(self.inputs)
        return self._generator.permutation(count) if self.shuffle else np.arange(count)

    @property
    def num_batches(self) -> int:
        whole, rest = divmod(len(self.inputs), self.batch_size)
        return whole + int(rest >= self.multiple_of)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, index: int) -> Any:
        positions = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        positions = positions[: len(positions) - len(positions) % self.multiple_of]
        if self.shuffle:  # gather in row order: cache friendly, same batch
            positions = np.sort(positions)
        windows = self.inputs.take(positions)
        if self.targets is None:
            return (windows,)
        return windows, self.targets[positions]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._new_order()


def predict_windows(model: keras.Model, inputs: Any, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """``model``'s forecasts for every window, gathered and predicted one batch at a time."""
    count = len(inputs)
    if not count:
        return np.asarray(model.predict(np.asarray(inputs), verbose=0))
    windows = inputs if isinstance(inputs, WindowArray) else as_window_array(inputs)
    parts = []
    for first in range(0, count, batch_size):
        positions = np.arange(first, min(first + batch_size, count))
        parts.append(np.asarray(model.predict_on_batch(windows.take(positions))))
    return np.concatenate(parts)
