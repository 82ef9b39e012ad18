"""Shared fixtures of the dashboard tests: a tiny real model in a real MLflow store, a saved
walk-forward backtest, a Parquet cache, and the app's environment pointed at them."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import (
    EVIL,
    SHORT_TICKER,
    TICKERS,
    UNIVERSE_TICKERS,
    Store,
    UniverseStore,
    write_backtest,
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


def _universe_backtest(root: Path, uri: str, task: str, common: dict[str, object]) -> str:
    """A real walk-forward of a tiny MLP over the universe and a ticker too short for it,
    scored by ``evaluate_universe``, saved by ``save_universe`` and recorded by
    ``record_backtest`` as ``fincast-backtest`` records it; the run's id."""
    import dataclasses

    from fincast.data.universe import ticker_sectors
    from fincast.evaluation.record import record_backtest
    from fincast.evaluation.universe import evaluate_universe, save_universe
    from fincast.evaluation.walkforward import run_walkforward
    from fincast.specs import CrossSectionSpec
    from fincast.tracking.run_tracker import RunTracker
    from jobs import make_job

    baselines = ["naive", "historical_mean"] if task == "returns" else ["naive", "har"]
    job = make_job(
        **common,
        tickers=[*UNIVERSE_TICKERS, SHORT_TICKER],
        task_name=task,
        folds=2,
        step=60,
        min_train_windows=250,
        baselines=baselines,
    )
    walk = run_walkforward(job)
    assert sorted(walk.backtests) == sorted(UNIVERSE_TICKERS), walk.left_out
    universe = evaluate_universe(
        walk.backtests,
        CrossSectionSpec(quantiles=2, min_tickers=5),
        model="mlp",
        sectors=ticker_sectors("stocknet", UNIVERSE_TICKERS),
        left_out=walk.left_out,
    )
    files = save_universe(universe, root / "outputs" / task / "backtest" / "universe")
    tracker = RunTracker(uri, "fincast", run_name=f"backtest-{task}-mlp-jax")
    record_backtest(
        tracker,
        [],
        files,
        params=dataclasses.asdict(job),
        config_yaml="seed: 42\n",
        tags={"backend": "jax"},
        universe=universe,
    )
    tracker.finish()
    assert not tracker.failures, tracker.failures
    return tracker.run_id


@pytest.fixture(scope="session")
def universe_store(tmp_path_factory: pytest.TempPathFactory) -> UniverseStore:
    """A real tiny training run over five stocknet tickers of two sectors (its forecasts
    logged by ``record_training``), and a returns and a volatility universe backtest run
    (real walk-forwards, their scores saved by ``save_universe``)."""
    import dataclasses

    import pandas as pd

    from fincast.tracking.browse import download_run_file
    from fincast.tracking.run_tracker import RunTracker
    from fincast.training.pipeline import run_training
    from fincast.training.record import record_training
    from jobs import make_job

    root = tmp_path_factory.mktemp("universe")
    uri = f"sqlite:///{root}/mlflow.db"
    common: dict[str, object] = {
        "model": "mlp",
        "units": [8],
        "source": "stocknet",
        "on_invalid": "repair",
        "lookback": 10,
        "horizon": 3,
        "epochs": 1,
        "models": str(root / "models"),
        "verbose": 0,
    }
    job = make_job(**common, tickers=UNIVERSE_TICKERS, test_days=50)
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
    runs = {task: _universe_backtest(root, uri, task, common) for task in ("returns", "volatility")}
    return UniverseStore(
        uri=uri,
        training_run=tracker.run_id,
        forecasts=pd.read_csv(logged),
        as_of={forecast.ticker: forecast.as_of for forecast in outcome.forecasts},
        returns_backtest=runs["returns"],
        volatility_backtest=runs["volatility"],
        returns_folder=root / "outputs" / "returns" / "backtest" / "universe",
        volatility_folder=root / "outputs" / "volatility" / "backtest" / "universe",
    )


@pytest.fixture
def universe_served(env: Path, universe_store: UniverseStore, monkeypatch: pytest.MonkeyPatch):
    """The app pointed at the universe store."""
    monkeypatch.setenv("FINCAST_TRACKING_URI", universe_store.uri)
    return universe_store
