"""``fincast-train``: train a forecaster on the configured data, score it, track it, forecast."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from fincast.cli.common import fail, job_spec, plain, run_hydra_app, start_backend
from fincast.specs import JobSpec

if TYPE_CHECKING:  # the pipeline imports keras, which must wait for the backend choice
    from fincast.backend import BackendInfo
    from fincast.tracking.run_tracker import RunTracker
    from fincast.training.pipeline import TrainingOutcome

COMMAND = "fincast-train"


def start_tracker(job: JobSpec, run_name: str) -> RunTracker | None:
    """The MLflow run of this job (a child of the sweep's run in a multirun), or None."""
    if not job.tracking.enabled:
        return None
    from fincast.tracking.run_tracker import RunTracker
    from fincast.tracking.store import TrackingError, resolve_uri
    from fincast.tracking.sweep import parent_run_id

    try:
        return RunTracker(
            resolve_uri(job.tracking.uri),
            job.tracking.experiment,
            run_name=run_name,
            parent_run_id=parent_run_id(),
        )
    except TrackingError as error:
        fail(COMMAND, error)


def print_outcome(outcome: TrainingOutcome) -> None:
    """The held-out scores, where the model went, and the forecasts."""
    from fincast.evaluation.tasks import task_named

    card = outcome.card
    task = task_named(str(card.get("task", "returns")))
    print(
        f"\nHeld-out scores, {card['test_start']} .. {card['test_end']} ({task.units}, "
        f"{card['horizon']}-day horizon; mae_vs_naive < 1 beats {task.naive_name}):"
    )
    print(outcome.scores.to_string(float_format=lambda value: f"{value:.6f}"))
    print(f"\nModel saved: {outcome.model_path}")
    for forecast in outcome.forecasts:
        print(
            f"\nForecast for {forecast.ticker} after {forecast.as_of} "
            f"(last price {forecast.last_price:,.2f}{forecast.interval_caption}):"
        )
        print(forecast.to_frame().to_string(float_format=lambda value: f"{value:,.6f}"))


def report_tracking(tracker: RunTracker, model_uri: str | None, model_path: Path) -> None:
    """Say where the run went, and what MLflow did not record."""
    print(f"\nMLflow run: {tracker.run_id} in {tracker.uri}; model: {model_uri}")
    if tracker.failures:
        missed = sorted({failure.split(":", 1)[0] for failure in tracker.failures})
        print(
            f"{COMMAND}: warning: MLflow did not record {', '.join(missed)} "
            f"({len(tracker.failures)} calls failed; first: {tracker.failures[0]}). "
            f"The model is safe at {model_path}.",
            file=sys.stderr,
        )


def per_ticker_jobs(job: JobSpec) -> list[JobSpec]:
    """The jobs to run: the job itself when pooled, else one job per ticker."""
    if job.training.pooling == "pooled":
        return [job]
    return [
        dataclasses.replace(job, data=dataclasses.replace(job.data, tickers=[ticker]))
        for ticker in job.data.tickers
    ]


def ran_config(config: DictConfig, job: JobSpec) -> DictConfig:
    """The config this job ran: a hold-out of ``evaluation.test_days`` days on its tickers.

    ``fincast-train`` always holds out the last ``evaluation.test_days`` days, whatever
    ``evaluation`` group was chosen (a recipe may pick ``walkforward`` for
    ``fincast-backtest``), and a per-ticker job runs on one ticker.
    """
    ran = OmegaConf.to_container(config, resolve=True)
    assert isinstance(ran, dict)
    ran["evaluation"] = {
        "name": "holdout",
        "test_days": job.evaluation.test_days,
        "validation_fraction": job.evaluation.validation_fraction,
        "embargo": job.evaluation.embargo,
    }
    ran["data"]["tickers"] = list(job.data.tickers)
    return OmegaConf.create(ran)


def train_one(job: JobSpec, config: DictConfig, backend: BackendInfo) -> float:
    """Train, print, save and track one model; its best validation loss.

    Inside a multirun the model is logged but not registered: the sweep registers its
    best child (lowest validation loss) when it ends (:mod:`fincast.tracking.sweep`).
    """
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.tracking.callbacks import EpochLogger
    from fincast.tracking.sweep import in_multirun, job_overrides, run_name
    from fincast.tracking.sweep_summary import OVERRIDES_TAG, VALIDATION_METRIC
    from fincast.training.pipeline import run_training
    from fincast.training.record import record_training

    suffix = f"-{job.data.tickers[0]}" if job.training.pooling == "per_ticker" else ""
    overrides = job_overrides()
    tracker = start_tracker(
        job, run_name=run_name(f"{job.model.name}-{backend.name}{suffix}", overrides)
    )
    if tracker:
        tracker.set_tags({OVERRIDES_TAG: json.dumps(overrides)[:5000]})
    try:
        outcome = run_training(job, callbacks=[EpochLogger(tracker)] if tracker else [])
    except (MarketDataError, MarketDataUnavailable, ValueError) as error:
        if tracker:
            tracker.finish("FAILED")
        fail(COMMAND, error)
    except BaseException:
        if tracker:
            tracker.finish("FAILED")
        raise
    print_outcome(outcome)
    best_loss = best_validation_loss(outcome)
    if tracker:
        ran = ran_config(config, job)
        model_uri = record_training(
            tracker,
            outcome,
            params=plain(ran),
            config_yaml=OmegaConf.to_yaml(ran),
            tags=backend.as_tags(),
            register=job.tracking.register and not in_multirun(),
            promotion=job.tracking.promotion,
        )
        tracker.log_metrics({VALIDATION_METRIC: best_loss})
        tracker.set_tags(selection_tags(outcome, model_uri))
        tracker.finish()
        report_tracking(tracker, model_uri, outcome.model_path)
    return best_loss


def best_validation_loss(outcome: TrainingOutcome) -> float:
    """The lowest validation loss of the fit (the training loss where none was held out)."""
    validation = outcome.training.history.get("val_loss") or outcome.training.history["loss"]
    return float(min(validation))


def selection_tags(outcome: TrainingOutcome, model_uri: str | None) -> dict[str, str]:
    """What a sweep needs to select and register this run's model when the sweep ends.

    Runs are compared on validation loss only within one selection group: the same
    task, target, horizon, quantiles and tickers.
    """
    from fincast.tracking.sweep_summary import MODEL_URI_TAG, REGISTERED_NAME_TAG, SELECTION_TAG

    card = outcome.card
    group = [card.get(key) for key in ("task", "target", "horizon", "quantiles")]
    group.append("+".join(sorted(card.get("tickers") or outcome.bars)))
    tags = {
        REGISTERED_NAME_TAG: str(card["name"]),
        SELECTION_TAG: "|".join(map(str, group)),
    }
    if model_uri:
        tags[MODEL_URI_TAG] = model_uri
    return tags


def train(config: DictConfig) -> float:
    """The Hydra task of ``fincast-train``.

    Returns:
        The best validation loss (the mean over tickers of a per-ticker job), the
        objective of hyperparameter sweeps (never the test score, which stays
        untouched by model selection).
    """
    job = job_spec(config, COMMAND)
    backend = start_backend(config, COMMAND)
    losses = [train_one(one, config, backend) for one in per_ticker_jobs(job)]
    return sum(losses) / len(losses)


def main() -> None:
    """Console entry point."""
    run_hydra_app(train)


if __name__ == "__main__":
    main()
