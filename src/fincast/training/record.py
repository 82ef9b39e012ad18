"""Record a finished training job in MLflow: config, tags, curves, scores, model, alias."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from fincast.data.fingerprint import panel_frame
from fincast.data.report import reports_frame
from fincast.serving import pyfunc
from fincast.tracking.names import registered_name
from fincast.tracking.provenance import git_tags, library_versions
from fincast.tracking.registry import EVALUATION_TAG, PROMOTION_METRIC, promote_if_better
from fincast.tracking.run_tracker import RunTracker
from fincast.training.pipeline import TrainingOutcome


def scores_as_metrics(scores: pd.DataFrame) -> dict[str, float]:
    """``test_<metric>`` for the model, ``test_<forecaster>_<metric>`` for each baseline.

    Empty cells (e.g. a quantile model's pinball loss in a baseline's row) are skipped.
    """
    metrics: dict[str, float] = {}
    for forecaster, row in scores.iterrows():
        prefix = "test_" if forecaster == "model" else f"test_{forecaster}_"
        metrics.update(
            {f"{prefix}{name}": float(value) for name, value in row.items() if pd.notna(value)}
        )
    return metrics


def record_training(
    tracker: RunTracker,
    outcome: TrainingOutcome,
    *,
    params: Mapping[str, Any],
    config_yaml: str,
    tags: Mapping[str, str],
    register: bool = True,
    promotion: str = "better_on_same_data",
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
    tracker.set_tags({EVALUATION_TAG: evaluation_key(card)})
    tracker.log_text(config_yaml, "config/config.yaml")
    if outcome.bars:
        tracker.log_dataset(
            panel_frame(outcome.bars),
            name="+".join(sorted(outcome.bars)),
            source={
                "kind": str(card.get("data_source", "")),
                "location": data_location(card),
                "tickers": sorted(outcome.bars),
            },
            digest=str(card.get("data_fingerprint", "")),
        )
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
        [
            forecast.to_frame().assign(ticker=forecast.ticker, as_of=forecast.as_of)
            for forecast in outcome.forecasts
        ]
    )
    tracker.log_table(forecasts, "forecast/next_days.csv")
    name = card.get("name") or registered_name(card["task"], card["model"])
    name = name if register else None
    model_uri = tracker.log_model(
        outcome.training.model,
        signature=pyfunc.signature(card),
        input_example=pyfunc.input_example(outcome.bars, card),
        metadata={"fincast": card},
        registered_name=name,
    )
    if name and model_uri and model_uri.startswith("models:/"):
        version = model_uri.rsplit("/", 1)[-1]
        decision = tracker._guard(
            "champion alias",
            lambda: promote_if_better(
                tracker.client,
                name,
                version,
                metrics[PROMOTION_METRIC],
                evaluation_key=evaluation_key(card),
                mode=promotion,
            ),
        )
        if decision is None:  # promote_if_better tags the runs itself when it answers
            reason = "the registry did not answer"
            tracker.set_tags({"champion": "false", "champion_reason": reason})
    return model_uri


def data_location(card: Mapping[str, Any]) -> str:
    """A local path naming where the training data came from (the dataset's source)."""
    from pathlib import Path

    from fincast.paths import sample_data_dir, stocknet_data_dir

    source = card.get("data_source")
    if source == "sample":
        return str(sample_data_dir().resolve())
    if source == "stocknet":
        return str(stocknet_data_dir().resolve())
    path = card.get("data_options", {}).get("path")
    return str(Path(path or card.get("cache_dir", "data/cache")).resolve())


def evaluation_key(card: Mapping[str, Any]) -> str:
    """What makes two held-out scores comparable: same data, features, horizon and period."""
    parts = [card.get(key, "") for key in ("data_fingerprint", "test_start", "test_end", "horizon")]
    return "|".join(map(str, parts))
