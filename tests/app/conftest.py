"""Shared fixtures of the dashboard tests: a tiny real model in a real MLflow store, a saved
walk-forward backtest, a Parquet cache, and the app's environment pointed at them."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import (
    EVIL,
    TICKERS,
    UNIVERSE_TICKERS,
    Store,
    UniverseStore,
    write_backtest,
    write_universe_files,
)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A real tiny training run (the package's pipeline), recorded and registered in MLflow,
    and a second run holding a saved walk-forward backtest as artifacts."""
    import mlflow

    from fincast.tracking.run_tracker import RunTracker
    from fincast.training.pipeline import run_training
    from fincast.training.record import record_training
    from jobs import make_job

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlflow.db"
    job = make_job(
        model="mlp",
        units=[8],
        tickers=TICKERS,
        lookback=10,
        horizon=3,
        epochs=1,
        test_days=50,
        models=str(root / "models"),
        verbose=0,
    )
    outcome = run_training(job)
    tracker = RunTracker(uri, "fincast", run_name="mlp-jax")
    model_uri = record_training(
        tracker,
        outcome,
        params={"seed": 42, "model": {"name": "mlp"}},
        config_yaml="seed: 42\n",
        tags={"backend": "jax"},
    )
    tracker.finish()
    assert model_uri == "models:/fincast-returns-mlp/1", tracker.failures
    folder = write_backtest(root / "outputs" / "2026-01-01" / "00-00-00" / "backtest" / "GSPC")
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("fincast").experiment_id
    backtest_run = client.create_run(experiment, run_name="backtest-returns-mlp-jax").info.run_id
    client.log_metric(backtest_run, "wf_model_mae", 0.0111)
    client.log_param(backtest_run, "model.name", "mlp-backtest")
    client.log_artifacts(backtest_run, str(folder), "backtest/GSPC")
    client.set_terminated(backtest_run)
    return Store(
        uri, outcome.model_path, tracker.run_id, backtest_run, folder, "fincast-returns-mlp"
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's settings pointed at empty folders and a store that does not exist."""
    monkeypatch.setenv("FINCAST_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("FINCAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FINCAST_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("FINCAST_BACKTEST_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("FINCAST_MLFLOW_UI_URL", "http://127.0.0.1:5999")
    monkeypatch.delenv("FINCAST_MODEL_URI", raising=False)
    return tmp_path


@pytest.fixture
def served(env: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The app pointed at the store with the registered model and the saved backtest."""
    monkeypatch.setenv("FINCAST_TRACKING_URI", store.uri)
    monkeypatch.setenv("FINCAST_BACKTEST_DIR", str(store.backtest_folder.parents[3]))
    return store


@pytest.fixture
def cached_evil(env: Path) -> str:
    """A cached ticker whose name is an HTML payload (bars copied from the sample)."""
    from fincast.data.cache import write_bars
    from fincast.data.sources import load_sample

    write_bars(env / "cache", EVIL, load_sample(["^GSPC"])["^GSPC"], source="yfinance")
    return EVIL


def _universe_backtest(uri: str, task: str, folder: Path, tickers: list[str]) -> str:
    """A backtest run, named and tagged as ``fincast-backtest`` names it, holding ``folder``
    as ``backtest/universe``."""
    import json

    import mlflow

    client = mlflow.MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("fincast").experiment_id
    run = client.create_run(experiment, run_name=f"backtest-{task}-mlp-jax").info.run_id
    for key, value in {
        "task.name": task,
        "model.name": "mlp",
        "data.source": "stocknet",
        "data.tickers": json.dumps(tickers),
        "evaluation.folds": "2",
    }.items():
        client.log_param(run, key, value)
    client.set_tag(run, "fincast_command", "backtest")
    client.log_artifacts(run, str(folder), "backtest/universe")
    client.set_terminated(run)
    return run


@pytest.fixture(scope="session")
def universe_store(tmp_path_factory: pytest.TempPathFactory) -> UniverseStore:
    """A real tiny training run over five stocknet tickers of two sectors (its forecasts
    logged by ``record_training``), and a returns and a volatility universe backtest."""
    import dataclasses

    import pandas as pd

    from fincast.data.universe import ticker_sectors
    from fincast.tracking.browse import download_run_file
    from fincast.tracking.run_tracker import RunTracker
    from fincast.training.pipeline import run_training
    from fincast.training.record import record_training
    from jobs import make_job

    root = tmp_path_factory.mktemp("universe")
    uri = f"sqlite:///{root}/mlflow.db"
    job = make_job(
        model="mlp",
        units=[8],
        source="stocknet",
        tickers=UNIVERSE_TICKERS,
        on_invalid="repair",
        lookback=10,
        horizon=3,
        epochs=1,
        test_days=50,
        models=str(root / "models"),
        verbose=0,
    )
    outcome = run_training(job)
    tracker = RunTracker(uri, "fincast", run_name="mlp-jax")
    record_training(
        tracker,
        outcome,
        params=dataclasses.asdict(job),
        config_yaml="seed: 42\n",
        tags={"backend": "jax"},
    )
    tracker.finish()
    assert not tracker.failures, tracker.failures
    logged = download_run_file(uri, tracker.run_id, "forecast/next_days.csv", root / "logged")
    sectors = ticker_sectors("stocknet", UNIVERSE_TICKERS)
    folders = {
        task: write_universe_files(root / "outputs" / task / "universe", task, sectors)
        for task in ("returns", "volatility")
    }
    runs = {
        task: _universe_backtest(uri, task, folder, UNIVERSE_TICKERS)
        for task, folder in folders.items()
    }
    return UniverseStore(
        uri=uri,
        training_run=tracker.run_id,
        forecasts=pd.read_csv(logged),
        as_of={forecast.ticker: forecast.as_of for forecast in outcome.forecasts},
        returns_backtest=runs["returns"],
        volatility_backtest=runs["volatility"],
        returns_folder=folders["returns"],
        volatility_folder=folders["volatility"],
    )


@pytest.fixture
def universe_served(env: Path, universe_store: UniverseStore, monkeypatch: pytest.MonkeyPatch):
    """The app pointed at the universe store."""
    monkeypatch.setenv("FINCAST_TRACKING_URI", universe_store.uri)
    return universe_store
