"""A local store's registered model is found without MLflow, as MLflow finds it."""

from __future__ import annotations

import pytest

from fincast.tracking.local_registry import find_local_model
from fincast.tracking.registry import download_model
from fincast.tracking.run_tracker import RunTracker
from fincast.tracking.store import resolve_uri
from fincast.training.record import record_training


@pytest.fixture(scope="module")
def registered(tiny_outcome, tmp_path_factory):
    _, outcome = tiny_outcome
    store = resolve_uri("sqlite:///mlflow.db", tmp_path_factory.mktemp("store"))
    tracker = RunTracker(store, "unit")
    record_training(tracker, outcome, params={}, config_yaml="", tags={})
    tracker.finish()
    return store


@pytest.mark.parametrize(
    "uri", ["models:/fincast-returns-lstm@champion", "models:/fincast-returns-lstm/1"]
)
def test_the_local_model_is_the_one_mlflow_downloads(registered, tmp_path, uri):
    assert find_local_model(uri, registered) is not None
    local_file, local_metadata = download_model(uri, registered)
    copied_file, copied_metadata = download_model(uri, registered, tmp_path / "copy")  # MLflow
    assert local_file != copied_file and local_file.name == "model.keras"
    assert local_file.read_bytes() == copied_file.read_bytes()
    assert local_metadata == copied_metadata and local_metadata["fincast"]["lookback"] == 10


@pytest.mark.parametrize(
    "uri",
    [
        "models:/fincast-returns-lstm@nosuch",
        "models:/fincast-returns-lstm/2",
        "models:/fincast-returns-lstm/latest",
        "models:/nothing@champion",
        "runs:/abc/model",
    ],
)
def test_anything_else_is_left_to_mlflow(registered, uri):
    assert find_local_model(uri, registered) is None


def test_another_store_or_a_workspace_is_left_to_mlflow(registered, monkeypatch):
    uri = "models:/fincast-returns-lstm@champion"
    assert find_local_model(uri, "http://127.0.0.1:5000") is None
    assert find_local_model(uri, "sqlite:////nonexistent/mlflow.db") is None
    monkeypatch.setenv("MLFLOW_WORKSPACE", "team")
    assert find_local_model(uri, registered) is None
