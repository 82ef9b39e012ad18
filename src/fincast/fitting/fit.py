"""Compile and fit a forecaster, and save it as one self-contained ``.keras`` file."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import keras
import numpy as np

from fincast.backend import tensorflow_left_alone
from fincast.fitting.batches import WindowBatches
from fincast.fitting.dispatch import dispatch_guards
from fincast.fitting.hardware import active_replicas
from fincast.models.fused_lstm import sharded_training


@dataclass
class TrainingResult:
    """What a fit produced: the model (best weights restored) and its history."""

    model: keras.Model
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    # whether the training steps ran compiled by XLA (Keras' resolved jit_compile)
    jit_compile: bool = False
    # the most shards a batch of PyTorch's fused LSTM ran in (1: one kernel call a batch)
    lstm_shards: int = 1

    @property
    def epochs(self) -> int:
        """Epochs actually run (early stopping may end training sooner)."""
        return len(next(iter(self.history.values()), []))


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, Keras and the backend so a CPU run repeats exactly.

    ``keras.utils.set_random_seed`` also imports TensorFlow to seed it, on every
    backend: about 2 s and half a gigabyte in a JAX or PyTorch process that never
    uses TensorFlow. Where TensorFlow is neither the backend nor already imported,
    that part is skipped; everything else is Keras' own seeding.
    """
    with tensorflow_left_alone():
        keras.utils.set_random_seed(int(seed))


VERBOSITIES = ("auto", 0, 1, 2)


def jit_compile_setting(jit_compile: bool | str = "auto") -> bool | str:
    """Keras' ``jit_compile`` for ``compile``, checked against the backend in use.

    ``"auto"`` is Keras' choice: XLA on JAX, and on TensorFlow only on a GPU or TPU.
    ``True`` asks for XLA on TensorFlow's CPU too, where fincast's LSTM then runs Keras'
    loop (XLA has no kernel for its fused op): slower than the default on 2 cores, at
    both benchmark sizes (``benchmarks/README.md``). ``False`` turns XLA off
    (TensorFlow runs its graph; JAX runs op by op, for debugging).

    Raises:
        ValueError: an unknown value, or ``True`` on the torch backend, where Keras
            would hand the model to ``torch.compile``, which cannot compile PyTorch's
            fused CPU LSTM kernel.
    """
    if isinstance(jit_compile, str) and jit_compile.lower() in ("true", "false"):
        jit_compile = jit_compile.lower() == "true"
    if not (jit_compile == "auto" or isinstance(jit_compile, bool)):
        raise ValueError(
            "training.jit_compile must be auto, true or false. "
            f"Received: training.jit_compile={jit_compile!r}"
        )
    if jit_compile is True and keras.backend.backend() == "torch":
        raise ValueError(
            "training.jit_compile=true compiles with XLA, on the jax and tensorflow backends "
            "only; on torch fincast trains eagerly with PyTorch's fused kernels. "
            "Use training.jit_compile=auto, or backend=tensorflow or backend=jax."
        )
    return jit_compile


def progress_verbosity(verbose: int | str = "auto", stream: TextIO | None = None) -> int:
    """Keras' ``verbose`` for ``fit``: ``"auto"`` is a progress bar only on a terminal.

    Keras' own ``"auto"`` always draws the bar, which floods logs and CI output; here
    it becomes ``1`` (bar) when ``stream`` (stdout) is a TTY and ``2`` (one line per
    epoch) otherwise.

    Raises:
        ValueError: ``verbose`` is not ``"auto"``, 0, 1 or 2.
    """
    if verbose not in VERBOSITIES or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    if verbose != "auto":
        return int(verbose)
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return 1 if callable(isatty) and isatty() else 2


@dataclass(frozen=True)
class LearningRateSchedule:
    """Adam's step size, cut by ``factor`` after ``patience`` epochs without improvement.

    ``patience=0`` keeps the rate fixed.
    """

    learning_rate: float = 1e-3
    patience: int = 0
    factor: float = 0.5
    min_learning_rate: float = 1e-6

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(
                f"learning_rate must be positive. Received: learning_rate={self.learning_rate}"
            )
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0. Received: patience={self.patience}")
        if not 0.0 < self.factor < 1.0:
            raise ValueError(f"factor must be in (0, 1). Received: factor={self.factor}")


def _callbacks(
    monitor: str | None, patience: int, schedule: LearningRateSchedule
) -> list[keras.callbacks.Callback]:
    callbacks: list[keras.callbacks.Callback] = []
    if monitor == "val_loss" and patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    if monitor and schedule.patience > 0:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                factor=schedule.factor,
                patience=schedule.patience,
                min_lr=schedule.min_learning_rate,
            )
        )
    return callbacks


def _fit_data(
    train: tuple[Any, np.ndarray],
    validation: tuple[Any, np.ndarray] | None,
    batch_size: int,
) -> tuple[WindowBatches, WindowBatches | None]:
    """The windows as batches gathered on demand; under data parallelism every batch
    splits evenly over the devices (the last one is cut to a multiple of them)."""
    replicas = active_replicas()
    if batch_size % replicas:
        raise ValueError(
            f"batch_size must be a multiple of the {replicas} data-parallel devices. "
            f"Received: batch_size={batch_size}"
        )
    seed = int(np.random.randint(2**31 - 1))  # seeded by set_seed: a fit repeats
    batches = WindowBatches(
        *train, batch_size=batch_size, shuffle=True, seed=seed, multiple_of=replicas
    )
    if validation is None or len(validation[0]) == 0:
        return batches, None
    return batches, WindowBatches(*validation, batch_size=batch_size, multiple_of=replicas)


def train_model(
    model: keras.Model,
    train: tuple[Any, np.ndarray],
    validation: tuple[Any, np.ndarray] | None = None,
    *,
    epochs: int = 20,
    batch_size: int = 256,
    learning_rate: float | LearningRateSchedule = 1e-3,
    patience: int = 5,
    loss: str | keras.losses.Loss = "mse",
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    jit_compile: bool | str = "auto",
) -> TrainingResult:
    """Compile ``model`` with Adam and fit it, stopping early on the validation loss.

    Args:
        model: an uncompiled forecaster.
        train: ``(inputs, targets)`` of the training slice; ``inputs`` an array or a
            :class:`fincast.data.windows.WindowArray`, gathered one batch at a time
            (:class:`fincast.fitting.batches.WindowBatches`).
        validation: ``(inputs, targets)`` later in time than ``train``; when given,
            early stopping restores the weights of the best validation epoch.
        epochs: the most epochs to run.
        batch_size: windows per gradient step (a multiple of the device count under
            data parallelism).
        learning_rate: Adam's step size, or a :class:`LearningRateSchedule` that also
            reduces it on plateaus of the validation (else training) loss.
        patience: epochs without validation improvement before stopping.
        loss: a Keras loss name or object (e.g. :class:`fincast.models.losses.PinballLoss`).
        verbose: ``"auto"`` (progress bar on a terminal, one line per epoch otherwise),
            0 silent, 1 progress bar, 2 one line per epoch.
        callbacks: extra callbacks, e.g. to log metrics per epoch.
        jit_compile: ``"auto"``, ``True`` or ``False``: see :func:`jit_compile_setting`.

    Raises:
        ValueError: bad ``epochs``, ``batch_size`` or ``jit_compile``.
    """
    jit_compile = jit_compile_setting(jit_compile)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1. Received: {epochs=}, {batch_size=}")
    schedule = (
        learning_rate
        if isinstance(learning_rate, LearningRateSchedule)
        else LearningRateSchedule(float(learning_rate))
    )
    fit_train, fit_validation = _fit_data(train, validation, batch_size)
    point_forecast = len(model.output_shape) == 2
    model.compile(
        optimizer=keras.optimizers.Adam(schedule.learning_rate),
        loss=loss,
        metrics=["mae"] if point_forecast else None,
        jit_compile=jit_compile,
    )
    monitor = "val_loss" if fit_validation else "loss"
    started = time.perf_counter()
    with sharded_training(model, batch_size) as lstm_shards:
        history = model.fit(
            fit_train,
            validation_data=fit_validation,
            epochs=epochs,
            shuffle=False,  # WindowBatches draws a new order of the windows each epoch
            verbose=progress_verbosity(verbose),
            callbacks=[*callbacks, *_callbacks(monitor, patience, schedule), *dispatch_guards()],
        )
    seconds = time.perf_counter() - started
    clean_history = {
        name: [float(value) for value in values] for name, values in history.history.items()
    }
    return TrainingResult(
        model=model,
        history=clean_history,
        seconds=seconds,
        jit_compile=bool(model.jit_compile),
        lstm_shards=lstm_shards,
    )


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
        with tensorflow_left_alone():
            model.save(temporary)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
