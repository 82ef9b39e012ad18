"""Record a finished training job in MLflow: config, tags, curves, scores, model, alias."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from typing import Any

import pandas as pd

from fincast.data.report import reports_frame
from fincast.tracking.mlflow_store import PROMOTION_METRIC, RunTracker, promote_if_better
from fincast.training.pipeline import TrainingOutcome, registered_name


def git_tags() -> dict[str, str]:
    """The git commit and dirty flag of the working directory, if it is a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a run's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("fincast", "keras", "jax", "tensorflow", "torch", "numpy", "pandas", "mlflow"):
        try:
            versions[f"version_{package}"] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def scores_as_metrics(scores: pd.DataFrame) -> dict[str, float]:
    """``test_<metric>`` for the model, ``test_<forecaster>_<metric>`` for each baseline."""
    metrics: dict[str, float] = {}
    for forecaster, row in scores.iterrows():
        prefix = "test_" if forecaster == "model" else f"test_{forecaster}_"
        metrics.update({f"{prefix}{name}": float(value) for name, value in row.items()})
    return metrics


def record_training(
    tracker: RunTracker,
    outcome: TrainingOutcome,
    *,
    params: Mapping[str, Any],
    config_yaml: str,
    tags: Mapping[str, str],
    register: bool = True,
) -> str | None:
    """Log one training job to ``tracker``'s run; register and maybe promote the model.

    Returns:
        The registered (or logged) model URI, or ``None`` when the model was not logged.
    """
    card = outcome.card
    tracker.log_params(params)
    tracker.set_tags(
        {**tags, **git_tags(), **library_versions(), "model_file": str(outcome.model_path)}
    )
    tracker.log_text(config_yaml, "config/config.yaml")
    if not tracker.epochs_logged:  # not logged live by EpochLogger
        tracker.log_history(outcome.training.history)
    metrics = scores_as_metrics(outcome.scores)
    metrics.update(
        {"train_seconds": outcome.training.seconds, "epochs_run": outcome.training.epochs}
    )
    tracker.log_metrics(metrics)
    tracker.log_table(outcome.scores, "evaluation/holdout_scores.csv")
    if outcome.validation:  # the data checks: counts per check and ticker, and repairs
        checks = reports_frame(outcome.validation).set_index(["ticker", "check"])
        tracker.log_table(checks, "data/validation.csv")
    forecasts = pd.concat(
        [forecast.to_frame().assign(ticker=forecast.ticker) for forecast in outcome.forecasts]
    )
    tracker.log_table(forecasts, "forecast/next_days.csv")
    name = registered_name(card["task"], card["model"]) if register else None
    model_uri = tracker.log_model(
        outcome.training.model,
        input_example=outcome.example_window,
        metadata={"fincast": card},
        registered_name=name,
    )
    if name and model_uri and model_uri.startswith("models:/"):
        version = model_uri.rsplit("/", 1)[-1]
        promoted = tracker._guard(
            "champion alias",
            lambda: promote_if_better(tracker.client, name, version, metrics[PROMOTION_METRIC]),
        )
        tracker.set_tags({"champion": str(bool(promoted)).lower()})
    return model_uri
