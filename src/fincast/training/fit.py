"""Compile and fit a forecaster, and save it as one self-contained ``.keras`` file."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np


@dataclass
class TrainingResult:
    """What a fit produced: the model (best weights restored) and its history."""

    model: keras.Model
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        """Epochs actually run (early stopping may end training sooner)."""
        return len(next(iter(self.history.values()), []))


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend so a CPU run repeats exactly."""
    keras.utils.set_random_seed(int(seed))


def train_model(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    epochs: int = 20,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    patience: int = 5,
    loss: str = "mse",
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainingResult:
    """Compile ``model`` with Adam and fit it, stopping early on the validation loss.

    Args:
        model: an uncompiled forecaster.
        train: ``(inputs, targets)`` of the training slice.
        validation: ``(inputs, targets)`` later in time than ``train``; when given,
            early stopping restores the weights of the best validation epoch.
        epochs: the most epochs to run.
        batch_size: windows per gradient step.
        learning_rate: Adam's step size.
        patience: epochs without validation improvement before stopping.
        loss: a Keras loss name.
        verbose: Keras' progress setting.
        callbacks: extra callbacks, e.g. to log metrics per epoch.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1. Received: {epochs=}, {batch_size=}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["mae"])
    all_callbacks = list(callbacks)
    has_validation = validation is not None and len(validation[0]) > 0
    if has_validation and patience > 0:
        all_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    started = time.perf_counter()
    history = model.fit(
        train[0],
        train[1],
        validation_data=validation if has_validation else None,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
        callbacks=all_callbacks,
    )
    seconds = time.perf_counter() - started
    clean_history = {
        name: [float(value) for value in values] for name, values in history.history.items()
    }
    return TrainingResult(model=model, history=clean_history, seconds=seconds)


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` to ``path`` (``.keras``) atomically.

    The model is written to a sibling temporary file first, so a crash or a full
    disk never leaves a half-written file in place of a good one.
    """
    target = Path(path)
    if target.suffix != ".keras":
        raise ValueError(f"Model files must end in .keras. Received: path={str(target)!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(temporary)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
