"""A sweep's parent run and its one registered model, against a real SQLite store.

The children are real runs with real logged models (``record_training`` with
``register=False``, as a sweep job logs them); only the Hydra side is left out.
"""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from fincast.cli.train import selection_tags
from fincast.tracking.registry import CHAMPION
from fincast.tracking.run_tracker import RunTracker
from fincast.tracking.store import connect, resolve_uri
from fincast.tracking.sweep import (
    PARENT_FILE,
    SWEPT_KEYS_FILE,
    MlflowSweepParent,
    run_name,
    short_override,
    swept_keys,
)
from fincast.tracking.sweep_summary import (
    CHILDREN_FILE,
    OVERRIDES_TAG,
    VALIDATION_METRIC,
    summarise_sweep,
)
from fincast.training.record import record_training

NAME = "fincast-returns-lstm"


@pytest.fixture
def store(tmp_path):
    return resolve_uri("sqlite:///mlflow.db", tmp_path)


def sweep_config(store, sweep_dir, **tracking):
    return OmegaConf.create(
        {
            "tracking": {
                "enabled": True,
                "uri": store,
                "experiment": "unit",
                "register": True,
                "promotion": "better_on_same_data",
                **tracking,
            },
            "hydra": {
                "sweep": {"dir": str(sweep_dir)},
                "overrides": {"task": ["model.builder.units=4,8", "training.epochs=1"]},
                "sweeper": {"_target_": "BasicSweeper", "params": None},
                "launcher": {"_target_": "BasicLauncher"},
                "job": {"name": "fincast-train", "num": 1},
            },
        }
    )


def child(store, parent_run_id, outcome, loss, units, status="FINISHED"):
    """One sweep job's run: model logged, not registered; its validation loss."""
    overrides = [f"model.builder.units={units}"]
    tracker = RunTracker(
        store, "unit", run_name=run_name("lstm-jax", overrides), parent_run_id=parent_run_id
    )
    tracker.set_tags({OVERRIDES_TAG: json.dumps(overrides)})
    model_uri = record_training(
        tracker, outcome, params={}, config_yaml="", tags={}, register=False
    )
    tracker.log_metrics({VALIDATION_METRIC: loss})
    tracker.set_tags(selection_tags(outcome, model_uri))
    tracker.finish(status)
    assert tracker.failures == []
    return tracker.run_id


def test_a_sweep_registers_its_lowest_validation_loss_child_once(store, tiny_outcome, tmp_path):
    _, outcome = tiny_outcome
    client = connect(store)
    parent = client.create_run(client.create_experiment("unit")).info.run_id
    worse = child(store, parent, outcome, 0.2, units=4)
    best = child(store, parent, outcome, 0.1, units=8)
    child(store, parent, outcome, 0.01, units=16, status="FAILED")  # never selected
    assert client.search_model_versions(f"name = '{NAME}'") == []  # children register nothing

    (registration,) = summarise_sweep(
        client, parent, register=True, promotion="better_on_same_data"
    )

    (version,) = client.search_model_versions(f"name = '{NAME}'")
    assert version.run_id == best == registration.run_id
    assert registration.version == str(version.version) and registration.promoted
    assert client.get_model_version_by_alias(NAME, CHAMPION).run_id == best
    assert client.get_run(best).data.tags["champion"] == "true"
    assert "champion" not in client.get_run(worse).data.tags
    described = registration.describe()
    assert best in described and f"{NAME} v1" in described and "; champion:" in described
    run = client.get_run(parent)
    assert run.data.metrics[VALIDATION_METRIC] == 0.1
    assert run.data.params["best.model.builder.units"] == "8"
    assert run.data.tags["best.run_id"] == best
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=parent, artifact_path=CHILDREN_FILE, dst_path=str(tmp_path / "children")
        )
    )
    assert list(table["status"]) == ["FINISHED", "FINISHED", "FAILED"]
    assert list(table["overrides"]) == [f"model.builder.units={units}" for units in (4, 8, 16)]
    assert list(table["run_name"])[1] == "lstm-jax model.builder.units=8"
    assert {"best_val_loss", "test_mae_vs_naive"} <= set(table.columns)


def test_a_sweep_without_registration_only_reports_its_best(store, tiny_outcome):
    _, outcome = tiny_outcome
    client = connect(store)
    parent = client.create_run(client.create_experiment("unit")).info.run_id
    best = child(store, parent, outcome, 0.1, units=8)

    (registration,) = summarise_sweep(client, parent, register=False, promotion="always")

    assert registration.run_id == best and registration.version is None
    assert "not registered" in registration.describe()
    assert client.search_model_versions(f"name = '{NAME}'") == []


def test_the_sweep_callback_records_config_failures_and_a_failed_end(store, tmp_path):
    sweep_dir = tmp_path / "multirun"
    config = sweep_config(store, sweep_dir)
    callback = MlflowSweepParent()
    callback.on_multirun_start(config)
    parent = (sweep_dir / PARENT_FILE).read_text()
    assert (sweep_dir / SWEPT_KEYS_FILE).read_text() == "model.builder.units\n"
    failed = JobReturn(
        overrides=["model.builder.units=8"],
        status=JobStatus.FAILED,
        _return_value=RuntimeError("boom"),
    )
    callback.on_job_end(config, failed)

    callback.close_failed_parent()  # what runs at exit when on_multirun_end never came

    run = mlflow.MlflowClient(store).get_run(parent)
    assert run.info.status == "FAILED"
    assert run.data.tags["fincast.failed_job.1"] == "model.builder.units=8: RuntimeError: boom"
    assert json.loads(run.data.params["hydra.overrides.task"]) == [
        "model.builder.units=4,8",
        "training.epochs=1",
    ]
    assert "hydra.launcher._target_" not in run.data.params  # Hydra internals are not params
    artifacts = {item.path for item in mlflow.MlflowClient(store).list_artifacts(parent, "config")}
    assert artifacts == {"config/sweep.yaml"}


def test_a_sweep_with_no_children_finishes_its_parent(store, tmp_path, capsys):
    config = sweep_config(store, tmp_path / "multirun")
    callback = MlflowSweepParent()
    callback.on_multirun_start(config)
    callback.on_multirun_end(config)
    parent = (tmp_path / "multirun" / PARENT_FILE).read_text()
    assert mlflow.MlflowClient(store).get_run(parent).info.status == "FINISHED"
    assert "fincast-train:" not in capsys.readouterr().out  # nothing to register, nothing said
    callback.close_failed_parent()  # a no-op once the sweep ended
    assert mlflow.MlflowClient(store).get_run(parent).info.status == "FINISHED"


def test_swept_keys_come_from_sweep_overrides_and_sweeper_params(store, tmp_path):
    config = sweep_config(store, tmp_path)
    config.hydra.overrides.task.append("task.lookback=range(10,30,10)")
    config.hydra.sweeper.params = {"training.learning_rate": "interval(0.001, 0.01)"}
    assert swept_keys(config) == [
        "model.builder.units",
        "task.lookback",
        "training.learning_rate",
    ]


def test_run_names_show_overrides_shortened():
    assert run_name("lstm-jax", []) == "lstm-jax"
    assert (
        run_name("lstm-jax", ["model.builder.units=32", "training.learning_rate=0.00123456789"])
        == "lstm-jax model.builder.units=32,training.learning_rate=0.001235"
    )
    assert short_override("data.tickers=['^GSPC']") == "data.tickers=['^GSPC']"
    long_name = run_name("lstm-jax", [f"key{number}=value" for number in range(100)])
    assert len(long_name) == 250 and long_name.endswith("...")
