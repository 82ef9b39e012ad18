"""Hydra multiruns as users start them: Optuna search, joblib and Ray launchers.

A sweep selects on validation loss, never on the test period: its jobs register
nothing, and when it ends it registers its best child once.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from fincast_cli import run_cli
from loopback import loopback_only, namespace_problem

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = ["backend=jax", "data.tickers=[^GSPC]", "training.epochs=1", "evaluation.test_days=60"]
NAME = "fincast-returns-lstm"


def train(
    *overrides: str, cwd: Path, wrap: Callable[[list[str]], list[str]] | None = None
) -> subprocess.CompletedProcess[str]:
    result = run_cli(
        "fincast-train",
        *overrides,
        cwd=cwd,
        timeout=900,
        extra_env={"RAY_DEDUP_LOGS": "0", "RAY_ADDRESS": ""},
        wrap=wrap,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def client_of(workdir: Path) -> mlflow.MlflowClient:
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    return mlflow.MlflowClient(store, registry_uri=store)


def runs_by_parent(workdir: Path) -> tuple[list[mlflow.entities.Run], list[mlflow.entities.Run]]:
    client = client_of(workdir)
    runs = client.search_runs([client.get_experiment_by_name("fincast").experiment_id])
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    assert len(parents) == 1
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parents[0].info.run_id}
    return parents, children


def assert_best_child_registered_once(
    workdir: Path, stdout: str
) -> tuple[mlflow.entities.Run, list[mlflow.entities.Run]]:
    """One registered version: the child with the lowest validation loss; parent summarised."""
    client = client_of(workdir)
    (parent,), children = runs_by_parent(workdir)
    best = min(children, key=lambda run: run.data.metrics["best_val_loss"])
    (version,) = client.search_model_versions("name LIKE 'fincast-%'")
    assert version.run_id == best.info.run_id
    assert version.name == best.data.tags["fincast.registered_name"]
    assert client.get_model_version_by_alias(version.name, "champion").run_id == best.info.run_id
    assert client.get_run(best.info.run_id).data.tags["champion"] == "true"
    assert f"registered child run {best.info.run_id}" in stdout
    assert f"as {version.name} v{version.version}; champion:" in stdout
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_val_loss"] == best.data.metrics["best_val_loss"]
    assert parent.data.tags["best.run_id"] == best.info.run_id
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=parent.info.run_id,
            artifact_path="sweep/children.csv",
            tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
            dst_path=str(workdir / "children"),
        )
    )
    assert sorted(table["run_id"]) == sorted(run.info.run_id for run in children)
    assert set(table["status"]) == {"FINISHED"}
    names = [run.info.run_name for run in children]
    assert len(set(names)) == len(names)
    return parent, children


def test_optuna_search_minimises_validation_loss(tmp_path):
    result = train("hparams_search=lstm_optuna", "hydra.sweeper.n_trials=2", *TINY, cwd=tmp_path)
    (results_file,) = tmp_path.glob("multirun/*/*/optimization_results.yaml")
    results = yaml.safe_load(results_file.read_text())
    assert set(results["best_params"]) >= {"model.builder.units", "training.learning_rate"}
    parent, children = assert_best_child_registered_once(tmp_path, result.stdout)
    assert len(children) == 2
    assert "Best value" in result.stdout + result.stderr
    assert parent.data.metrics["optuna.best_value"] == pytest.approx(
        parent.data.metrics["best_val_loss"]
    )
    assert parent.data.params["optuna.best.model.builder.units"] == str(
        results["best_params"]["model.builder.units"]
    )
    assert parent.data.params["hydra.sweeper.params.model.builder.units"].startswith("choice(")
    for run in children:  # the run name shows the trial's parameters
        assert run.info.run_name.startswith("lstm-jax model.builder.units=")
        units = run.data.params["model.builder.units"]
        assert f"model.builder.units={units}," in run.info.run_name
        assert "training.learning_rate=" in run.info.run_name


def test_joblib_launcher_runs_jobs_in_parallel(tmp_path):
    result = train(
        "-m",
        "hydra/launcher=local_parallel",
        "model=lstm,mlp",
        "task.lookback=20",
        *TINY,
        cwd=tmp_path,
    )
    parent, children = assert_best_child_registered_once(tmp_path, result.stdout)
    assert sorted(run.data.params["model.name"] for run in children) == ["lstm", "mlp"]
    assert sorted(run.info.run_name for run in children) == [
        "lstm-jax model=lstm",
        "mlp-jax model=mlp",
    ]
    assert all(run.info.status == "FINISHED" for run in children)
    assert parent.data.params["hydra.launcher.n_jobs"] == "2"
    assert "model=lstm,mlp" in parent.data.params["hydra.overrides.task"]


def test_ray_launcher_on_a_local_ray_instance(tmp_path):
    """Hydra's Ray launcher, in a network namespace where only loopback exists (Ray would
    bind the host's address otherwise): every Ray process is on 127.0.0.1."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    problem = namespace_problem()
    if problem is not None:
        pytest.skip(f"the Ray launcher test needs a loopback-only network namespace: {problem}")
    addresses = tmp_path / "addresses.txt"
    result = train(
        "-m",
        "hydra/launcher=ray_cluster",
        "model=lstm,mlp",
        "task.lookback=20",
        *TINY,
        cwd=tmp_path,
        wrap=lambda line: loopback_only(line, str(addresses)),
    )
    # the only address the sweep (and Ray) could bind: loopback
    (interface,) = addresses.read_text().strip().splitlines()
    assert interface.split()[1] == "lo" and " 127.0.0.1/8 " in interface
    assert "Ray Launcher is launching 2 jobs" in result.stdout + result.stderr
    _, children = assert_best_child_registered_once(tmp_path, result.stdout)
    assert sorted(run.data.params["model.name"] for run in children) == ["lstm", "mlp"]


def test_sweep_on_an_unreachable_store_stops_before_its_first_job(tmp_path):
    result = run_cli(
        "fincast-train",
        "-m",
        "model=lstm,mlp",
        *TINY,
        "tracking.uri=http://127.0.0.1:9",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("fincast-train: error: Cannot reach the MLflow tracking store")
    assert "Epoch" not in result.stdout + result.stderr
    assert not list(tmp_path.glob("multirun/*/*/0"))  # no job started


def test_sweep_with_a_failing_job_leaves_its_parent_failed(tmp_path):
    result = run_cli(
        "fincast-train",
        "-m",
        "model=lstm,mlp",
        *[override for override in TINY if not override.startswith("data.tickers=")],
        "data.tickers=[NOSUCH]",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Ticker(s) NOSUCH are not in the bundled sample" in result.stderr
    (parent,), children = runs_by_parent(tmp_path)
    assert parent.info.status == "FAILED"
    assert [run.info.status for run in children] == ["FAILED"]
    assert parent.data.tags["fincast.children_not_finished"] == "1"
    assert client_of(tmp_path).search_model_versions("name LIKE 'fincast-%'") == []
