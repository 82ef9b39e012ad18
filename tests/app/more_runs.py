"""A copy of the dashboard tests' store with more runs: other tasks, models and backends.

The Runs and Backtest pages follow the sidebar's task and model, so their tests need a
store holding runs of several of each. The session store is copied (its registered
model stays loadable: artifacts are found by absolute paths) and real runs are added
with MLflow's client, each the way ``fincast-train`` or ``fincast-backtest`` records it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import mlflow
from dashboard_helpers import Store, write_backtest


@dataclass
class MoreRuns:
    """The copied store and the ids of the runs added to it."""

    uri: str
    backtest_dir: Path
    auto_training: str  # returns, mlp, backend param "auto", tag "tensorflow"
    volatility_training: str
    returns_backtest: str  # returns, mlp, with results
    cnn_backtest: str  # returns, cnn, without results
    volatility_backtest: str  # the newest run


def _run(
    client: mlflow.MlflowClient,
    experiment: str,
    name: str,
    params: dict[str, str],
    tags: dict[str, str],
    metrics: dict[str, float],
) -> str:
    run = client.create_run(experiment, run_name=name).info.run_id
    for key, value in params.items():
        client.log_param(run, key, value)
    for key, value in tags.items():
        client.set_tag(run, key, value)
    for key, value in metrics.items():
        client.log_metric(run, key, value)
    return run


def volatility_backtest(folder: Path, model: str = "mlp") -> Path:
    """A saved volatility backtest folder, with the Hydra config ``fincast-backtest`` saves."""
    write_backtest(folder)
    report = json.loads((folder / "report.json").read_text())
    report.update(task="volatility", folds=3)
    (folder / "report.json").write_text(json.dumps(report))
    hydra = folder.parent.parent / ".hydra"
    hydra.mkdir(parents=True, exist_ok=True)
    (hydra / "config.yaml").write_text(f"model:\n  name: {model}\ntask:\n  name: volatility\n")
    return folder


def add_runs(store: Store, root: Path) -> MoreRuns:
    """``store``'s database copied under ``root``, with five more runs (the newest last)."""
    root.mkdir(parents=True, exist_ok=True)
    # SQLite's backup API: a file copy would miss what is still in the write-ahead log
    with (
        contextlib.closing(sqlite3.connect(store.uri.removeprefix("sqlite:///"))) as source,
        contextlib.closing(sqlite3.connect(root / "mlflow.db")) as copy,
    ):
        source.backup(copy)
    uri = f"sqlite:///{root}/mlflow.db"
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("fincast").experiment_id
    returns = {"task.name": "returns", "data.tickers": '["^GSPC"]'}
    volatility = {"task.name": "volatility", "data.tickers": '["^GSPC"]'}
    backtest = {"fincast_command": "backtest", "backend": "jax"}
    auto = _run(
        client,
        experiment,
        "mlp-tensorflow",
        {**returns, "model.name": "mlp", "backend": "auto", "seed": "7"},
        {"backend": "tensorflow", "backend_requested": "auto"},
        {"test_mae_vs_naive": 0.97, "test_mae": 0.0071},
    )
    vol = _run(
        client,
        experiment,
        "mlp-jax",
        {**volatility, "model.name": "mlp", "backend": "jax"},
        {"backend": "jax"},
        {"test_mae_vs_naive": 0.5, "test_mae": 0.03},
    )
    folds = {"evaluation.folds": "2"}
    returns_run = _run(
        client,
        experiment,
        "backtest-returns-mlp-jax",
        {**returns, **folds, "model.name": "mlp"},
        backtest,
        {"wf_model_loss_vs_naive": 1.02},
    )
    client.log_artifacts(returns_run, str(store.backtest_folder), "backtest/GSPC")
    cnn = _run(
        client,
        experiment,
        "backtest-returns-cnn-jax",
        {**returns, **folds, "model.name": "cnn"},
        backtest,
        {"wf_model_loss_vs_naive": 0.99},
    )
    folder = volatility_backtest(root / "outputs" / "2026-02-01" / "10-00-00" / "backtest" / "GSPC")
    volatility_run = _run(
        client,
        experiment,
        "backtest-volatility-mlp-jax",
        {**volatility, "evaluation.folds": "3", "model.name": "mlp"},
        backtest,
        {"wf_model_loss_vs_har": 0.9},
    )
    client.log_artifacts(volatility_run, str(folder), "backtest/GSPC")
    for run in (auto, vol, returns_run, cnn, volatility_run):
        client.set_terminated(run)
    write_backtest(root / "outputs" / "2026-01-01" / "00-00-00" / "backtest" / "GSPC")
    return MoreRuns(uri, root / "outputs", auto, vol, returns_run, cnn, volatility_run)
