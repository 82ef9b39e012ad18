"""``fincast-train``: train a forecaster on the configured data, score it, track it, forecast."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from fincast.cli.common import fail, plain, run_hydra_app, start_backend, typed

if TYPE_CHECKING:  # the pipeline imports keras, which must wait for the backend choice
    from fincast.training.pipeline import TrainingJob

COMMAND = "fincast-train"


def training_job(config: DictConfig) -> TrainingJob:
    """Turn the composed config into a :class:`TrainingJob`, checking value types.

    Raises:
        ValueError: a value of the wrong type, naming the key and the value.
    """
    from hydra.utils import instantiate

    from fincast.training.pipeline import TrainingJob

    embargo = config.evaluation.embargo
    return TrainingJob(
        tickers=[str(ticker) for ticker in config.data.tickers],
        build_model=instantiate(config.model.builder),
        model_family=str(config.model.name),
        source=str(config.data.source),
        data_options=plain(config.data.options),
        cache_dir=str(config.data.cache_dir),
        features=[str(name) for name in config.features.names],
        price=str(config.features.price),
        target=str(config.task.target),
        lookback=typed(config, "task.lookback", int),
        horizon=typed(config, "task.horizon", int),
        task=str(config.task.name),
        test_days=typed(config, "evaluation.test_days", int),
        validation_fraction=typed(config, "evaluation.validation_fraction", float),
        embargo=None if embargo is None else typed(config, "evaluation.embargo", int),
        epochs=typed(config, "training.epochs", int),
        batch_size=typed(config, "training.batch_size", int),
        learning_rate=typed(config, "training.learning_rate", float),
        patience=typed(config, "training.patience", int),
        verbose=typed(config, "training.verbose", int),
        seed=typed(config, "seed", int),
        output_dir=str(config.paths.models),
    )


def train(config: DictConfig) -> None:
    """The Hydra task of ``fincast-train``."""
    backend = start_backend(config, COMMAND)
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.tracking.mlflow_store import RunTracker, TrackingError, resolve_uri
    from fincast.tracking.record import record_training
    from fincast.training.pipeline import run_training

    try:
        job = training_job(config)
    except ValueError as error:
        fail(COMMAND, error)
    tracker = None
    if config.tracking.enabled:
        try:
            tracker = RunTracker(
                resolve_uri(config.tracking.uri),
                str(config.tracking.experiment),
                run_name=f"{job.model_family}-{backend.name}",
            )
        except TrackingError as error:
            fail(COMMAND, error)
    try:
        outcome = run_training(job)
    except (MarketDataError, MarketDataUnavailable, ValueError) as error:
        if tracker:
            tracker.finish("FAILED")
        fail(COMMAND, error)
    print(
        f"\nHeld-out scores, {outcome.card['test_start']} .. {outcome.card['test_end']} "
        f"(log returns, {job.horizon}-day horizon; mae_vs_naive < 1 beats the random walk):"
    )
    print(outcome.scores.to_string(float_format=lambda value: f"{value:.6f}"))
    print(f"\nModel saved: {outcome.model_path}")
    if tracker:
        model_uri = record_training(
            tracker,
            outcome,
            params=plain(config),
            config_yaml=OmegaConf.to_yaml(config),
            tags=backend.as_tags(),
            register=bool(config.tracking.register),
        )
        tracker.finish()
        print(f"MLflow run: {tracker.run_id} in {tracker.uri}; model: {model_uri}")
        if tracker.failures:
            print(
                "MLflow did not record: "
                + "; ".join(tracker.failures)
                + f". The model is safe at {outcome.model_path}.",
                file=sys.stderr,
            )
    for forecast in outcome.forecasts:
        print(
            f"\nForecast for {forecast.ticker} after {forecast.as_of} "
            f"(last price {forecast.last_price:,.2f}):"
        )
        print(forecast.to_frame().to_string(float_format=lambda value: f"{value:,.6f}"))


def main() -> None:
    """Console entry point."""
    run_hydra_app(train)


if __name__ == "__main__":
    main()
