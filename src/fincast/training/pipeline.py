"""The main job: data -> features -> windows -> fit -> hold-out score -> save -> track -> forecast.

Plain keyword arguments only (no Hydra), so the CLI, the dashboard and the tests
all run the same code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

import fincast
from fincast.data.features import make_features
from fincast.data.fingerprint import data_fingerprint
from fincast.data.loading import load_bars
from fincast.data.report import ValidationReport
from fincast.data.validate import DEFAULT_MAX_DAILY_MOVE, ValidationPolicy
from fincast.evaluation.holdout import holdout_baselines, score_forecasts
from fincast.evaluation.targets import daily_series, task_windows
from fincast.models.builders import fit_scaling
from fincast.models.losses import PinballLoss
from fincast.models.quantile import median_index, quantile_scores
from fincast.serving.forecast import Forecast, Forecaster, forecast_ticker
from fincast.training.fit import (
    LearningRateSchedule,
    TrainingResult,
    jit_compile_setting,
    save_model,
    set_seed,
    train_model,
)
from fincast.training.hardware import (
    Hardware,
    HardwareSetup,
    check_hardware,
    training_hardware,
)
from fincast.training.splits import Split, split_windows

logger = logging.getLogger(__name__)


@dataclass
class TrainingJob:
    """Everything the main job needs, as plain values."""

    tickers: list[str]
    build_model: Callable[..., keras.Model]
    model_family: str = "lstm"
    source: str = "sample"
    data_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str = "data/cache"
    # yfinance cache policy: never | missing | always (fincast.data.refresh)
    refresh: str = "missing"
    # data checks (fincast.data.validate): raise | warn | repair, exchange calendars, jumps
    on_invalid: str = "raise"
    calendar: str | None = "XNYS"
    calendars: dict[str, str] = field(default_factory=dict)
    max_daily_move: float | None = DEFAULT_MAX_DAILY_MOVE
    features: list[str] = field(
        default_factory=lambda: ["log_return", "log_range", "volume_change"]
    )
    price: str = "adj_close"
    target: str = "log_return"
    lookback: int = 60
    horizon: int = 5
    test_days: int = 250
    validation_fraction: float = 0.15
    embargo: int | None = None
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    # XLA: "auto" (Keras' choice), True or False (fincast.training.fit.jit_compile_setting)
    jit_compile: bool | str = "auto"
    # ReduceLROnPlateau: epochs without improvement before the rate is cut (0 = off)
    reduce_lr_patience: int = 0
    reduce_lr_factor: float = 0.5
    min_learning_rate: float = 1e-6
    # quantile levels to forecast (must include 0.5, the point forecast); None = point only
    quantiles: list[float] | None = None
    # float32 | mixed_float16 | mixed_bfloat16; none | data_parallel (fincast.training.hardware)
    precision: str = "float32"
    distribution: str = "none"
    seed: int = 42
    verbose: int | str = 2
    output_dir: str = "models"
    task: str = "returns"
    # extra Keras callbacks, e.g. fincast.tracking.callbacks.EpochLogger
    callbacks: list[keras.callbacks.Callback] = field(default_factory=list)


@dataclass
class TrainingOutcome:
    """What the main job produced."""

    model_path: Path
    card: dict[str, Any]
    scores: pd.DataFrame
    forecasts: list[Forecast]
    training: TrainingResult
    example_window: np.ndarray
    validation: list[ValidationReport] = field(default_factory=list)
    bars: dict[str, pd.DataFrame] = field(default_factory=dict)


def registered_name(task: str, model_family: str) -> str:
    """Registry name of a task and model family, e.g. ``fincast-returns-lstm``."""
    return f"fincast-{task}-{model_family}"


def _score(
    model: keras.Model,
    split: Split,
    job: TrainingJob,
    daily: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Held-out scores next to the task's baselines; a quantile model is scored on its median.

    The baselines come from :func:`fincast.evaluation.holdout.holdout_baselines`; a
    quantile model also gets pinball loss and coverage.
    """
    quantiles = job.quantiles
    predicted = np.asarray(model.predict(split.test.inputs, batch_size=1024, verbose=0))
    forecasts = {
        "model": predicted[..., median_index(quantiles)] if quantiles else predicted,
        **holdout_baselines(job.task, split.train, split.test, daily),
    }
    scores = score_forecasts(split.test.targets, forecasts)
    if quantiles:
        for name, value in quantile_scores(split.test.targets, predicted, quantiles).items():
            scores.loc["model", name] = value
    return scores


def _fit(
    job: TrainingJob, split: Split, hardware: Hardware
) -> tuple[TrainingResult, HardwareSetup]:
    """Build and train the model under the job's precision and distribution."""
    scaling = fit_scaling(
        split.train.inputs,
        split.train.targets,
        # the volatility task's target is not an input feature
        target_feature=job.features.index(job.target) if job.target in job.features else 0,
    )
    options: dict[str, Any] = {"quantiles": list(job.quantiles)} if job.quantiles else {}
    schedule = LearningRateSchedule(
        job.learning_rate, job.reduce_lr_patience, job.reduce_lr_factor, job.min_learning_rate
    )
    with training_hardware(job.precision, job.distribution, hardware) as setup:
        model = job.build_model(
            lookback=job.lookback,
            num_features=len(job.features),
            horizon=job.horizon,
            scaling=scaling,
            **options,
        )
        result = train_model(
            model,
            (split.train.inputs, split.train.targets),
            (split.validation.inputs, split.validation.targets),
            epochs=job.epochs,
            batch_size=job.batch_size,
            learning_rate=schedule,
            patience=job.patience,
            loss=PinballLoss(job.quantiles) if job.quantiles else "mse",
            verbose=job.verbose,
            callbacks=job.callbacks,
            jit_compile=job.jit_compile,
        )
    return result, setup


def _card(job: TrainingJob, split: Split, scores: pd.DataFrame) -> dict[str, Any]:
    return {
        "fincast_version": fincast.__version__,
        "task": job.task,
        "model": job.model_family,
        "backend": keras.backend.backend(),
        "tickers": list(job.tickers),
        "features": list(job.features),
        "price": job.price,
        "target": job.target,
        "lookback": job.lookback,
        "horizon": job.horizon,
        "data_source": job.source,
        "data_options": {
            key: value for key, value in job.data_options.items() if key != "download"
        },
        "cache_dir": job.cache_dir,
        # exchange calendars: forecasts are dated on the ticker's next sessions
        "calendar": job.calendar,
        "calendars": dict(job.calendars),
        "on_invalid": job.on_invalid,
        "train_start": str(split.train.as_of.min().date()),
        "train_end": str(split.train.last_target.max().date()),
        # the last day any fitting step saw (validation drives early stopping)
        "fit_end": str(split.validation.last_target.max().date()),
        "test_start": str(split.test_start.date()),
        "test_end": str(split.test.last_target.max().date()),
        "quantiles": list(job.quantiles) if job.quantiles else None,
        "test_scores": json.loads(scores.to_json(orient="index")),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def load_checked_bars(job: TrainingJob) -> tuple[dict[str, pd.DataFrame], list[ValidationReport]]:
    """The job's bars after the data checks, and each ticker's report.

    ``job.on_invalid`` decides what a failed check does: raise, warn, or repair.
    """
    bars = load_bars(
        job.source,
        job.tickers,
        cache_dir=job.cache_dir,
        refresh=job.refresh,
        options=job.data_options,
        strict=False,  # the job's own policy below decides: raise, warn or repair
    )
    policy = ValidationPolicy(
        on_invalid=job.on_invalid,
        calendar=job.calendar,
        calendars=dict(job.calendars),
        max_daily_move=job.max_daily_move,
        price=job.price,
    )
    checked = {ticker: policy.validate(frame, ticker) for ticker, frame in bars.items()}
    return {ticker: pair[0] for ticker, pair in checked.items()}, [
        pair[1] for pair in checked.values()
    ]


def run_training(job: TrainingJob) -> TrainingOutcome:
    """Train, score against baselines on the held-out period, save, and forecast."""
    if job.quantiles is not None:
        median_index(job.quantiles)  # a ValueError before any data is loaded
    jit_compile_setting(job.jit_compile)
    hardware = check_hardware(job.precision, job.distribution)
    set_seed(job.seed)
    bars, reports = load_checked_bars(job)
    features = {
        ticker: make_features(frame, job.features, price=job.price)
        for ticker, frame in bars.items()
    }
    daily = {
        ticker: daily_series(bars[ticker], frame.index, price=job.price)
        for ticker, frame in features.items()
    }
    windows = {  # the task's targets: next log returns, or future realised volatility
        ticker: task_windows(
            job.task,
            frame,
            daily[ticker],
            target=job.target,
            lookback=job.lookback,
            horizon=job.horizon,
            ticker=ticker,
        )
        for ticker, frame in features.items()
    }
    split = split_windows(windows, job)
    logger.info(
        "Windows: %d train, %d validation, %d test (test from %s)",
        len(split.train),
        len(split.validation),
        len(split.test),
        split.test_start.date(),
    )
    result, setup = _fit(job, split, hardware)
    scores = _score(result.model, split, job, daily)
    card = {**_card(job, split, scores), **setup.as_card()}
    card["data_fingerprint"] = data_fingerprint(bars)
    card["jit_compile"] = result.jit_compile
    card["lstm_shards"] = result.lstm_shards
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    model_path = save_model(
        result.model,
        Path(job.output_dir) / registered_name(job.task, job.model_family) / f"{stamp}.keras",
    )
    model_path.with_suffix(".json").write_text(json.dumps(card, indent=2))
    forecaster = Forecaster(model=result.model, card=card, uri=str(model_path))
    forecasts = [forecast_ticker(forecaster, bars[ticker], ticker) for ticker in job.tickers]
    example = split.test.inputs[-1:]
    return TrainingOutcome(model_path, card, scores, forecasts, result, example, reports, bars)
