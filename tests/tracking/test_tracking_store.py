"""MLflow tracking against a real SQLite store: runs, models, registry, champion, failures."""

from __future__ import annotations

import time

import mlflow
import pandas as pd
import pytest

from fincast.tracking.registry import CHAMPION, download_model, promote_if_better
from fincast.tracking.run_tracker import RunTracker, flatten
from fincast.tracking.store import TrackingError, connect, resolve_uri
from fincast.training.record import record_training, scores_as_metrics


@pytest.fixture
def store(tmp_path):
    return resolve_uri("sqlite:///mlflow.db", tmp_path)


def test_resolve_uri_makes_sqlite_paths_absolute(tmp_path):
    assert resolve_uri("sqlite:///x/m.db", tmp_path) == f"sqlite:///{tmp_path}/x/m.db"
    assert resolve_uri("sqlite:////abs/m.db") == "sqlite:////abs/m.db"
    assert resolve_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_flatten_nested_config():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "None",
    }


def test_unreachable_server_fails_fast_with_advice():
    started = time.perf_counter()
    with pytest.raises(TrackingError, match="Cannot reach.*127.0.0.1:9.*tracking=none"):
        connect("http://127.0.0.1:9")
    assert time.perf_counter() - started < 60


def test_run_logs_params_metrics_tags_and_history(store):
    tracker = RunTracker(store, "unit")
    tracker.log_params({"model": {"units": 4}, "seed": 1})
    tracker.log_metrics({"test_mae": 0.5, "bad": float("nan")})
    tracker.log_history({"loss": [3.0, 2.0, 1.0]})
    tracker.set_tags({"backend": "jax"})
    tracker.finish()
    run = mlflow.MlflowClient(store, registry_uri=store).get_run(tracker.run_id)
    assert run.data.params == {"model.units": "4", "seed": "1"}
    assert run.data.metrics["test_mae"] == 0.5 and "bad" not in run.data.metrics
    history = mlflow.MlflowClient(store, registry_uri=store).get_metric_history(
        tracker.run_id, "epoch_loss"
    )
    assert [metric.value for metric in history] == [3.0, 2.0, 1.0]
    assert run.data.tags["backend"] == "jax" and run.info.status == "FINISHED"
    assert tracker.failures == []


def test_failures_are_collected_not_raised(store):
    tracker = RunTracker(store, "unit")
    tracker.client = mlflow.MlflowClient("http://127.0.0.1:9")
    tracker.log_metrics({"x": 1.0})
    tracker.log_text("hello", "notes.txt")
    assert len(tracker.failures) == 2 and tracker.failures[0].startswith("metrics:")


def test_record_registers_model_and_promotes_champion(store, tiny_outcome, tmp_path):
    _, outcome = tiny_outcome
    tracker = RunTracker(store, "unit")
    uri = record_training(
        tracker, outcome, params={"seed": 1}, config_yaml="seed: 1\n", tags={"backend": "jax"}
    )
    tracker.finish()
    assert uri == "models:/fincast-returns-lstm/1"
    client = mlflow.MlflowClient(store, registry_uri=store)
    assert str(client.get_model_version_by_alias("fincast-returns-lstm", CHAMPION).version) == "1"
    run = client.get_run(tracker.run_id)
    assert run.data.metrics["test_mae"] == pytest.approx(outcome.scores.loc["model", "mae"])
    assert "test_naive_mae" in run.data.metrics and run.data.tags["champion"] == "true"
    assert run.data.tags["version_keras"] == __import__("keras").__version__
    artifacts = {item.path for item in client.list_artifacts(tracker.run_id)}
    assert {"config", "evaluation", "forecast", "data"} <= artifacts
    checks = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=tracker.run_id,
            artifact_path="data/validation.csv",
            tracking_uri=store,
            dst_path=str(tmp_path / "checks"),
        )
    )
    assert set(checks["ticker"]) == {"^GSPC", "^IXIC"}
    quirks = checks["check"].isin(["stale_open", "zero_range"])
    assert checks.loc[~quirks, "count"].sum() == 0  # the bundled bars pass every check
    assert checks.loc[quirks & (checks["check"] == "stale_open"), "count"].sum() > 0
    model_file, metadata = download_model(
        "models:/fincast-returns-lstm@champion", store, tmp_path / "dl"
    )
    assert model_file.name == "model.keras" and metadata["fincast"]["lookback"] == 10


def test_worse_model_does_not_take_the_champion_alias(store, tiny_outcome):
    _, outcome = tiny_outcome
    client = mlflow.MlflowClient(store, registry_uri=store)
    runs = []
    for _ in range(2):
        tracker = RunTracker(store, "unit")
        record_training(tracker, outcome, params={}, config_yaml="", tags={})
        tracker.finish()
        runs.append(tracker.run_id)
    # Same score: the first version stays champion (ties do not promote).
    assert str(client.get_model_version_by_alias("fincast-returns-lstm", CHAMPION).version) == "1"
    assert [client.get_run(run).data.tags["champion"] for run in runs] == ["true", "false"]
    assert "<=" in client.get_run(runs[1]).data.tags["champion_reason"]
    key = client.get_run(tracker.run_id).data.tags["evaluation_key"]
    moved, reason = promote_if_better(
        client, "fincast-returns-lstm", "2", score=0.0, evaluation_key=key
    )
    assert moved and "new champion" in reason
    assert str(client.get_model_version_by_alias("fincast-returns-lstm", CHAMPION).version) == "2"
    # The tag follows the alias: the old champion's run is no longer tagged champion.
    first, second = (client.get_run(run).data.tags for run in runs)
    assert (first["champion"], second["champion"]) == ("false", "true")
    assert first["champion_reason"] == "v2 replaced v1 as champion"
    assert second["champion_reason"] == reason


def test_champion_scored_on_other_data_is_kept(store, tiny_outcome):
    _, outcome = tiny_outcome
    for _ in range(2):
        record_training(RunTracker(store, "unit"), outcome, params={}, config_yaml="", tags={})
    client = mlflow.MlflowClient(store, registry_uri=store)
    moved, reason = promote_if_better(
        client, "fincast-returns-lstm", "2", score=0.0, evaluation_key="other"
    )
    assert not moved and "other data" in reason
    moved, _ = promote_if_better(client, "fincast-returns-lstm", "2", score=9.0, mode="always")
    assert moved
    with pytest.raises(ValueError, match="'sometimes'"):
        promote_if_better(client, "fincast-returns-lstm", "2", score=0.0, mode="sometimes")


def test_run_logs_the_input_dataset_with_its_fingerprint(store, tiny_outcome):
    _, outcome = tiny_outcome
    tracker = RunTracker(store, "unit")
    record_training(tracker, outcome, params={}, config_yaml="", tags={})
    run = mlflow.MlflowClient(store, registry_uri=store).get_run(tracker.run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "^GSPC+^IXIC"
    assert dataset_input.dataset.digest == outcome.card["data_fingerprint"][:36]
    assert tracker.failures == []


def test_download_of_a_missing_model_says_how_to_train(store):
    connect(store)
    with pytest.raises(TrackingError, match="fincast-train"):
        download_model("models:/nothing@champion", store)


def test_scores_as_metrics_names(tiny_outcome):
    _, outcome = tiny_outcome
    metrics = scores_as_metrics(outcome.scores)
    assert {"test_mae", "test_mae_vs_naive", "test_naive_mae", "test_historical_mean_rmse"} <= set(
        metrics
    )


def test_a_new_local_store_writes_ahead_with_few_disk_syncs(tmp_path):
    """WAL mode: a new store's ~330 schema statements do not each sync the disk."""
    import sqlite3

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = connect(uri)
    client.create_experiment("x")
    with sqlite3.connect(tmp_path / "mlflow.db") as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    mlflow_connection = client._tracking_client.store.engine.raw_connection()
    try:
        synchronous = mlflow_connection.cursor().execute("PRAGMA synchronous").fetchone()
    finally:
        mlflow_connection.close()
    assert synchronous == (1,)  # NORMAL (FULL is 2)


def test_a_finished_run_is_in_the_database_file_itself(tmp_path):
    """After finish(), a plain copy of mlflow.db holds the run, though MLflow keeps it open."""
    import shutil

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = RunTracker(uri, "fincast", run_name="copied")
    tracker.log_metrics({"test_mae": 0.5})
    tracker.finish()
    shutil.copy(tmp_path / "mlflow.db", tmp_path / "copy.db")  # no -wal file beside it
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    (run,) = mlflow.MlflowClient(copy).search_runs([tracker.experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics == {"test_mae": 0.5}
