"""Fit one forecaster of a job on a training slice: the only fit fincast has.

``fincast-train`` fits the model it deploys with :func:`fit_forecaster`, and every
walk-forward refit calls the same function on its fold's training windows, so the
backtest scores the recipe that training ships: the same builder, scaling fitted on
the slice, seed, loss, learning-rate schedule, early stopping, precision,
distribution and XLA setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras

from fincast.data.covariates import embedded_positions, model_columns
from fincast.data.windows import Windows, validation_split
from fincast.fitting.fit import LearningRateSchedule, TrainingResult, set_seed, train_model
from fincast.fitting.hardware import Hardware, HardwareSetup, training_hardware
from fincast.models.builders import fit_scaling
from fincast.models.common import fit_ticker_scaling
from fincast.models.losses import PinballLoss
from fincast.specs import FitSpec, JobSpec


@dataclass
class FittedForecaster:
    """A fitted model, how it was trained, and the windows it was fitted and stopped on."""

    result: TrainingResult
    setup: HardwareSetup
    train: Windows
    validation: Windows

    @property
    def model(self) -> keras.Model:
        """The Keras model, best validation weights restored."""
        return self.result.model


def learning_rate_schedule(fit: FitSpec) -> LearningRateSchedule:
    """Adam's rate and its plateau schedule from ``training`` (``reduce_lr: null`` = fixed)."""
    reduce = fit.reduce_lr
    if reduce is None:
        return LearningRateSchedule(fit.learning_rate)
    return LearningRateSchedule(fit.learning_rate, reduce.patience, reduce.factor, reduce.min_lr)


def _identity_sizes(windows: Windows, positions: list[int]) -> dict[int, int]:
    """Each identity column's vocabulary size: its largest id in the panel's rows, plus one."""
    rows = windows.inputs.rows
    return {position: int(rows[:, position].max()) + 1 for position in positions}


def fit_forecaster(
    job: JobSpec,
    windows: Windows,
    *,
    hardware: Hardware | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str | None = None,
) -> FittedForecaster:
    """Fit ``job``'s model on ``windows``, its latest share kept back for early stopping.

    The Keras session is cleared and the seed set first, so two fits of the same
    windows and settings give the same weights (on a CPU).

    Args:
        job: the job spec: model builder, task, features, ``training`` and seed.
        windows: the training slice (one ticker or several, pooled); the latest
            ``evaluation.validation_fraction`` of its days, purged and embargoed,
            drives early stopping and the learning-rate schedule.
        hardware: detected hardware (detected here when not given).
        callbacks: extra Keras callbacks (progress, MLflow); they do not change the fit.
        verbose: Keras progress; ``None`` follows ``training.verbose``.
    """
    train, validation = validation_split(
        windows, job.evaluation.validation_fraction, embargo=job.embargo
    )
    quantiles = list(job.task.quantiles) if job.task.quantiles else None
    fit = job.training
    keras.backend.clear_session(free_memory=False)  # gc.collect costs ~0.3 s a fold
    set_seed(job.seed)
    features = job.features
    columns = model_columns(
        features.names, features.covariates, features.identities, job.task.horizon
    )
    scaling = fit_scaling(
        train.inputs,
        train.targets,
        target_feature=job.target_feature,
        identity_sizes=_identity_sizes(train, embedded_positions(columns, features.embeddings)),
        embedding_dim=features.embedding_dim,
    )
    if features.normalise == "ticker":
        scaling = fit_ticker_scaling(scaling, train, columns.index("ticker_id"))
    build = job.model.build_function()
    with training_hardware(fit.precision, fit.distribution, hardware) as setup:
        model = build(
            lookback=job.task.lookback,
            num_features=train.inputs.shape[-1],  # features, then covariates
            horizon=job.task.horizon,
            scaling=scaling,
            **({"quantiles": quantiles} if quantiles else {}),
        )
        result = train_model(
            model,
            (train.inputs, train.targets),
            (validation.inputs, validation.targets) if len(validation) else None,
            epochs=fit.epochs,
            batch_size=fit.batch_size,
            learning_rate=learning_rate_schedule(fit),
            patience=fit.patience,
            loss=PinballLoss(quantiles) if quantiles else "mse",
            verbose=fit.verbose if verbose is None else verbose,
            callbacks=callbacks,
            jit_compile=fit.jit_compile,
        )
    return FittedForecaster(result, setup, train, validation)
