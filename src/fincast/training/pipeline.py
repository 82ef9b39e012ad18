"""The main job: data -> checks -> windows -> hold-out fold -> the one fit -> score -> save.

The job is a :class:`fincast.specs.JobSpec` (plain values, no Hydra), so the CLI, the
dashboard and the tests all run the same code. The hold-out is a walk-forward plan of
one fold (:func:`fincast.evaluation.folds.holdout_fold`) and the model is fitted by
:func:`fincast.fitting.forecaster.fit_forecaster`, exactly as every walk-forward
refit is, so ``fincast-backtest`` scores the recipe this job deploys.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import pandas as pd

import fincast
from fincast.data.fingerprint import data_fingerprint
from fincast.data.loading import load_checked_bars
from fincast.data.report import ValidationReport
from fincast.data.windows import Windows, concat_windows
from fincast.evaluation.folds import Fold, holdout_fold
from fincast.evaluation.holdout import score_forecasts
from fincast.evaluation.series import feature_recipe, prepare_universe
from fincast.evaluation.tasks import task_named
from fincast.fitting.batches import predict_windows
from fincast.fitting.calibration import calibrate_intervals
from fincast.fitting.fit import TrainingResult, jit_compile_setting, save_model
from fincast.fitting.forecaster import FittedForecaster, fit_forecaster
from fincast.fitting.hardware import check_hardware
from fincast.models.quantile import quantile_scores
from fincast.quantiles import point_forecast
from fincast.serving.forecast import Forecast, Forecaster, forecast_panel
from fincast.specs import JobSpec
from fincast.tracking.names import registered_name

logger = logging.getLogger(__name__)


@dataclass
class TrainingOutcome:
    """What the main job produced."""

    model_path: Path
    card: dict[str, Any]
    scores: pd.DataFrame
    forecasts: list[Forecast]
    training: TrainingResult
    validation: list[ValidationReport] = field(default_factory=list)
    bars: dict[str, pd.DataFrame] = field(default_factory=dict)


def model_name(job: JobSpec, tickers: Sequence[str]) -> str:
    """The name the job's model is saved and registered under (per ticker when not pooled)."""
    ticker = tickers[0] if job.training.pooling == "per_ticker" else None
    return registered_name(job.task.name, job.model.name, ticker)


def job_holdout_fold(bars: dict[str, pd.DataFrame], job: JobSpec) -> Fold:
    """The job's hold-out: every ticker's windows pooled, the last ``test_days`` held out.

    A panel's tickers without a window, or too short for the hold-out, are left out and
    named in :attr:`Fold.left_out`.
    """
    windows, dailies, no_window = prepare_universe(bars, job)
    fold = holdout_fold(
        concat_windows(list(windows.values())),
        dailies,
        horizon=job.task.horizon,
        test_days=job.evaluation.test_days,
        embargo=job.embargo,
    )
    if no_window:
        fold = replace(fold, left_out={**no_window, **fold.left_out})
    return fold


def model_file(job: JobSpec, name: str) -> Path:
    """A new, unique ``models/<name>/<UTC time>-<random>.keras``: two runs started in the
    same second (a parallel sweep) never write the same file."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return Path(job.paths.models) / name / f"{stamp}-{uuid.uuid4().hex[:8]}.keras"


def save_card(card: dict[str, Any], path: Path) -> Path:
    """Write the model card beside its model, atomically (a temporary file, then a rename)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(json.dumps(card, indent=2))
    temporary.replace(path)
    return path


def _score(
    job: JobSpec, fitted: FittedForecaster, test: Windows, dailies: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Held-out scores next to the task's hold-out baselines; a quantile model on its median.

    A quantile model also gets pinball loss and coverage.
    """
    quantiles = job.task.quantiles
    task = task_named(job.task.name)
    predicted = predict_windows(fitted.model, test.inputs)
    forecasts = {
        "model": point_forecast(predicted, quantiles),
        **task.holdout_baselines(fitted.train, test, dailies),
    }
    scores = score_forecasts(test.targets, forecasts, directional=task.directional)
    if quantiles:
        for name, value in quantile_scores(test.targets, predicted, quantiles).items():
            scores.loc["model", name] = value
    return scores


def _day(dates: pd.DatetimeIndex, pick: str) -> str:
    return str(getattr(dates, pick)().date())


def _card(job: JobSpec, fitted: FittedForecaster, fold: Fold, scores: pd.DataFrame) -> dict:
    tickers = fold.tickers
    fit_part = fitted.validation if len(fitted.validation) else fitted.train
    return {
        "fincast_version": fincast.__version__,
        "task": job.task.name,
        "model": job.model.name,
        # the registered name (and the folder the file is saved in)
        "name": model_name(job, tickers),
        "backend": keras.backend.backend(),
        "tickers": tickers,
        # pooled: one model fitted on every ticker; per_ticker: this ticker's own model
        "pooling": job.training.pooling,
        "features": list(job.features.names),
        # learned embeddings, and the inputs' and outputs' scaling (global | ticker)
        "embeddings": list(job.features.embeddings),
        "normalise": job.features.normalise,
        # tickers of the data left out of the fit, with the reason (too little history)
        "left_out": dict(fold.left_out),
        "price": job.features.price,
        "target": job.task.target,
        "lookback": job.task.lookback,
        "horizon": job.task.horizon,
        "data_source": job.data.source,
        "data_options": {
            key: value for key, value in job.data.options.items() if key != "download"
        },
        "cache_dir": job.data.cache_dir,
        # exchange calendars: forecasts are dated on the ticker's next sessions
        "calendar": job.data.calendar,
        "calendars": dict(job.data.calendars),
        "on_invalid": job.data.on_invalid,
        "train_start": _day(fitted.train.as_of, "min"),
        "train_end": _day(fitted.train.last_target, "max"),
        # the last day any fitting step saw (validation drives early stopping)
        "fit_end": _day(fit_part.last_target, "max"),
        "test_start": _day(fold.test.first_target, "min"),
        "test_end": _day(fold.test.last_target, "max"),
        "quantiles": list(job.task.quantiles) if job.task.quantiles else None,
        "test_scores": json.loads(scores.to_json(orient="index")),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_training(
    job: JobSpec, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> TrainingOutcome:
    """Train on the job's tickers (pooled), score on the held-out fold, save, and forecast.

    Args:
        job: the job spec; a ``per_ticker`` job must name one ticker (the CLI runs one
            job per ticker).
        callbacks: extra Keras callbacks (progress, MLflow); they do not change the fit.
    """
    jit_compile_setting(job.training.jit_compile)
    hardware = check_hardware(job.training.precision, job.training.distribution)
    bars, reports = load_checked_bars(job.data, job.features.price)
    if job.training.pooling == "per_ticker" and len(bars) != 1:
        raise ValueError(
            "A per_ticker job trains one ticker's model; run one job per ticker "
            f"(fincast-train does). Received: tickers={list(bars)}"
        )
    fold = job_holdout_fold(bars, job)
    fitted = fit_forecaster(job, fold.train, hardware=hardware, callbacks=callbacks)
    logger.info(
        "Windows: %d train, %d validation, %d test (test from %s)",
        len(fitted.train),
        len(fitted.validation),
        len(fold.test),
        fold.test.first_target.min().date(),
    )
    scores = _score(job, fitted, fold.test, dict(fold.dailies))
    card = {**_card(job, fitted, fold, scores), **fitted.setup.as_card()}
    # covariates, embeddings, the input columns and the universe they use (FeatureRecipe)
    card.update(feature_recipe(job, list(bars)).card())
    # the calibrated interval (split conformal or CQR on the validation windows)
    card["intervals"] = calibrate_intervals(job, fitted)
    card["data_fingerprint"] = data_fingerprint(bars)
    card["jit_compile"] = fitted.result.jit_compile
    card["lstm_shards"] = fitted.result.lstm_shards
    model_path = save_model(fitted.model, model_file(job, card["name"]))
    save_card(card, model_path.with_suffix(".json"))
    forecaster = Forecaster(model=fitted.model, card=card, uri=str(model_path))
    forecasts = forecast_panel(forecaster, bars, skip_short=True)
    return TrainingOutcome(model_path, card, scores, forecasts, fitted.result, reports, bars)
