"""Hydra multiruns as users start them: Optuna search, joblib and Ray launchers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow
import pytest
import yaml

from fincast_cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = ["backend=jax", "data.tickers=[^GSPC]", "training.epochs=1", "evaluation.test_days=60"]


def train(*overrides: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = run_cli(
        "fincast-train", *overrides, cwd=cwd, timeout=900, extra_env={"RAY_DEDUP_LOGS": "0"}
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def runs_by_parent(workdir: Path) -> tuple[list[mlflow.entities.Run], list[mlflow.entities.Run]]:
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("fincast").experiment_id])
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    assert len(parents) == 1
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parents[0].info.run_id}
    return parents, children


def test_optuna_search_minimises_validation_loss(tmp_path):
    result = train("hparams_search=lstm_optuna", "hydra.sweeper.n_trials=2", *TINY, cwd=tmp_path)
    (results_file,) = tmp_path.glob("multirun/*/*/optimization_results.yaml")
    results = yaml.safe_load(results_file.read_text())
    assert set(results["best_params"]) >= {"model.builder.units", "training.learning_rate"}
    _, children = runs_by_parent(tmp_path)
    assert len(children) == 2
    assert "Best value" in result.stdout + result.stderr


def test_joblib_launcher_runs_jobs_in_parallel(tmp_path):
    train(
        "-m",
        "hydra/launcher=local_parallel",
        "model=lstm,mlp",
        "task.lookback=20",
        *TINY,
        cwd=tmp_path,
    )
    _, children = runs_by_parent(tmp_path)
    assert sorted(run.data.params["model.name"] for run in children) == ["lstm", "mlp"]
    assert all(run.info.status == "FINISHED" for run in children)


def test_ray_launcher_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    result = train(
        "-m",
        "hydra/launcher=ray_cluster",
        "model=lstm,mlp",
        "task.lookback=20",
        *TINY,
        cwd=tmp_path,
    )
    assert "Ray Launcher is launching 2 jobs" in result.stdout + result.stderr
    _, children = runs_by_parent(tmp_path)
    assert sorted(run.data.params["model.name"] for run in children) == ["lstm", "mlp"]
