"""A volatility model is volatility everywhere: CLI table and JSON, MLflow, the config logged.

Tried as a new user would: ``fincast-train experiment=sp500_volatility``, then
``fincast-forecast`` of the model it registered.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from fincast_cli import run_cli

pytestmark = pytest.mark.e2e

TINY = [
    "experiment=sp500_volatility",
    "backend=jax",
    "model=mlp",
    "model.builder.units=[4]",
    "task.lookback=10",
    "task.horizon=3",
    "training.epochs=1",
    "evaluation.test_days=60",
]


@pytest.fixture(scope="module")
def volatility_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("volatility")
    result = run_cli("fincast-train", *TINY, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def test_the_cli_shows_annualised_volatility_and_no_price_or_hit_rate(volatility_run):
    _, result = volatility_run
    out = result.stdout
    assert "annualised realised volatility" in out and "beats volatility persistence" in out
    scores = out.split("Held-out scores", 1)[1].split("Model saved", 1)[0]
    assert "mae" in scores and "hit_rate" not in scores
    table = out.split("Forecast for ^GSPC", 1)[1].splitlines()
    header = table[1].split()
    # no price; the conformal 80% interval of the volatility (lower, upper) beside it
    assert header == ["date", "realised_vol", "lower", "upper"], header
    rows = [[float(value) for value in line.split()[-3:]] for line in table[3:6]]
    assert all(0.03 < value < 1.5 for value, _, _ in rows), rows  # annualised volatility
    assert all(lower < value < upper for value, lower, upper in rows), rows


def test_mlflow_holds_volatility_and_the_config_that_ran(volatility_run):
    workdir, _ = volatility_run
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
    (run,) = client.search_runs([client.get_experiment_by_name("fincast").experiment_id])
    local = client.download_artifacts(run.info.run_id, "forecast/next_days.csv", str(workdir))
    forecasts = pd.read_csv(local)
    assert "realised_vol" in forecasts.columns
    assert "price" not in forecasts.columns and "log_return" not in forecasts.columns
    assert forecasts["realised_vol"].between(0.03, 1.5).all()
    assert run.data.params["evaluation.name"] == "holdout"
    assert "test_hit_rate" not in run.data.metrics and "test_mae" in run.data.metrics
    config = client.download_artifacts(run.info.run_id, "config/config.yaml", str(workdir))
    logged = yaml.safe_load(Path(config).read_text())
    assert logged["evaluation"]["name"] == "holdout" and logged["task"]["name"] == "volatility"


def test_forecast_serves_volatility_as_json(volatility_run):
    workdir, _ = volatility_run
    result = run_cli("fincast-forecast", *TINY, "output=json", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["target"] == "realised_vol"
    assert payload["model_uri"] == "models:/fincast-volatility-mlp@champion"
    assert all("price" not in step for step in payload["forecast"])
    assert all(0.03 < step["value"] < 1.5 for step in payload["forecast"])
