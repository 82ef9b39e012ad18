"""``fincast-train``: train a forecaster on the configured data, score it, track it, forecast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from fincast.cli.common import fail, job_fields, plain, run_hydra_app, start_backend, typed

if TYPE_CHECKING:  # the pipeline imports keras, which must wait for the backend choice
    from fincast.tracking.run_tracker import RunTracker
    from fincast.training.pipeline import TrainingJob, TrainingOutcome

COMMAND = "fincast-train"


def data_checks(config: DictConfig) -> dict[str, Any]:
    """The data-check options of ``config.data`` (defaults where a key is absent).

    ``on_invalid`` (raise | warn | repair), ``calendar`` (an exchange code or null),
    ``calendars`` ({ticker: exchange code}) and ``max_daily_move`` (a number or null).
    """
    data = config.data
    move = data.get("max_daily_move", 0.4)
    calendar = data.get("calendar", "XNYS")
    return {
        "on_invalid": str(data.get("on_invalid", "raise")),
        "calendar": str(calendar) if calendar else None,
        "calendars": {str(key): str(value) for key, value in (data.get("calendars") or {}).items()},
        "max_daily_move": None if move is None else _number("data.max_daily_move", move),
    }


def _number(key: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number or null. Received: {key}={value!r}") from None


def training_options(config: DictConfig) -> dict[str, Any]:
    """Quantiles, precision, distribution, LR schedule and progress of ``config``.

    Raises:
        ValueError: a value of the wrong type, naming the key and the value.
    """
    training, quantiles = config.training, config.task.get("quantiles")
    verbose = training.get("verbose", "auto")
    if verbose != "auto" and not (isinstance(verbose, int) and verbose in (0, 1, 2)):
        raise ValueError(
            f"training.verbose must be auto, 0, 1 or 2. Received: training.verbose={verbose!r}"
        )
    if quantiles is not None and not OmegaConf.is_list(quantiles):
        raise ValueError(
            "task.quantiles must be null or a list such as [0.1, 0.5, 0.9]. "
            f"Received: task.quantiles={quantiles!r}"
        )
    return {
        "quantiles": None
        if quantiles is None
        else [_number("task.quantiles", level) for level in quantiles],
        "precision": str(training.get("precision", "float32")),
        "distribution": str(training.get("distribution", "none")),
        "reduce_lr_patience": _typed_or(config, "training.reduce_lr.patience", int, 0),
        "reduce_lr_factor": _typed_or(config, "training.reduce_lr.factor", float, 0.5),
        "min_learning_rate": _typed_or(config, "training.reduce_lr.min_lr", float, 1e-6),
        "verbose": verbose,
    }


def _typed_or(config: DictConfig, key: str, kind: type[Any], default: Any) -> Any:
    return default if OmegaConf.select(config, key) is None else typed(config, key, kind)


def training_job(config: DictConfig) -> TrainingJob:
    """Turn the composed config into a :class:`TrainingJob`, checking value types.

    Raises:
        ValueError: a value of the wrong type, naming the key and the value.
    """
    from fincast.training.pipeline import TrainingJob

    embargo = config.evaluation.embargo
    return TrainingJob(
        **job_fields(config),
        **data_checks(config),
        test_days=typed(config, "evaluation.test_days", int),
        embargo=None if embargo is None else typed(config, "evaluation.embargo", int),
        **training_options(config),
        output_dir=str(config.paths.models),
    )


def start_tracker(config: DictConfig, run_name: str) -> RunTracker | None:
    """The MLflow run of this job (a child of the sweep's run in a multirun), or None."""
    if not config.tracking.enabled:
        return None
    from fincast.tracking.run_tracker import RunTracker
    from fincast.tracking.store import TrackingError, resolve_uri
    from fincast.tracking.sweep import parent_run_id

    try:
        return RunTracker(
            resolve_uri(config.tracking.uri),
            str(config.tracking.experiment),
            run_name=run_name,
            parent_run_id=parent_run_id(),
        )
    except TrackingError as error:
        fail(COMMAND, error)


def print_outcome(outcome: TrainingOutcome) -> None:
    """The held-out scores, where the model went, and the forecasts."""
    card = outcome.card
    volatility = card.get("task") == "volatility"
    target = "annualised realised volatility" if volatility else "log returns"
    naive = "volatility persistence" if volatility else "the random walk"
    print(
        f"\nHeld-out scores, {card['test_start']} .. {card['test_end']} ({target}, "
        f"{card['horizon']}-day horizon; mae_vs_naive < 1 beats {naive}):"
    )
    print(outcome.scores.to_string(float_format=lambda value: f"{value:.6f}"))
    print(f"\nModel saved: {outcome.model_path}")
    for forecast in outcome.forecasts:
        print(
            f"\nForecast for {forecast.ticker} after {forecast.as_of} "
            f"(last price {forecast.last_price:,.2f}):"
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


def train(config: DictConfig) -> float:
    """The Hydra task of ``fincast-train``.

    Returns:
        The best validation loss, the objective of hyperparameter sweeps (never
        the test score, which stays untouched by model selection).
    """
    backend = start_backend(config, COMMAND)
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.tracking.callbacks import EpochLogger
    from fincast.training.pipeline import run_training
    from fincast.training.record import record_training

    try:
        job = training_job(config)
    except ValueError as error:
        fail(COMMAND, error)
    tracker = start_tracker(config, run_name=f"{job.model_family}-{backend.name}")
    if tracker:
        job.callbacks.append(EpochLogger(tracker))
    try:
        outcome = run_training(job)
    except (MarketDataError, MarketDataUnavailable, ValueError) as error:
        if tracker:
            tracker.finish("FAILED")
        fail(COMMAND, error)
    print_outcome(outcome)
    if tracker:
        model_uri = record_training(
            tracker,
            outcome,
            params=plain(config),
            config_yaml=OmegaConf.to_yaml(config),
            tags=backend.as_tags(),
            register=bool(config.tracking.register),
            promotion=str(config.tracking.get("promotion", "better_on_same_data")),
        )
        tracker.finish()
        report_tracking(tracker, model_uri, outcome.model_path)
    validation = outcome.training.history.get("val_loss") or outcome.training.history["loss"]
    return float(min(validation))


def main() -> None:
    """Console entry point."""
    run_hydra_app(train)


if __name__ == "__main__":
    main()
