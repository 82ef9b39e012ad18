"""``fincast-forecast`` imports only what it uses: no TensorFlow, MLflow or matplotlib on JAX.

A store only MLflow can read (a tracking server) still goes through MLflow: see
tests/tracking/test_server.py and tests/tracking/test_local_registry.py.

The command runs in a subprocess as a user runs it (the console script's ``main`` with
its arguments), and writes the modules it imported when it exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

# the console script's main, with the list of imported modules written at exit
SCRIPT = """
import atexit, json, sys
path = sys.argv.pop(1)
def write_modules():
    names = sorted(name for name, module in sys.modules.items() if module is not None)
    with open(path, "w") as handle:
        json.dump(names, handle)
atexit.register(write_modules)
sys.argv[0] = "fincast-forecast"
from fincast.cli.forecast import main
main()
"""
NOT_USED = ("tensorflow", "torch", "mlflow", "matplotlib", "sklearn", "yfinance", "streamlit")


def forecast_in_subprocess(tmp_path, *overrides):
    modules = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(modules), *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {name.split(".")[0] for name in json.loads(modules.read_text())}
    return done, imported


def test_forecast_from_a_keras_file_on_jax_imports_only_what_it_uses(tiny_outcome, tmp_path):
    _, outcome = tiny_outcome
    done, imported = forecast_in_subprocess(
        tmp_path, f"model_uri={outcome.model_path}", "backend=jax", "output=json"
    )
    assert {"keras", "jax", "hydra", "pandas"} <= imported
    assert not imported & set(NOT_USED), sorted(imported & set(NOT_USED))
    payload = json.loads(done.stdout)
    assert payload["backend"] == "jax" and payload["ticker"] == "^GSPC"
    # the forecast of the trained model in memory, to float32 round-off
    (trained,) = [forecast for forecast in outcome.forecasts if forecast.ticker == "^GSPC"]
    assert [step["value"] for step in payload["forecast"]] == pytest.approx(
        trained.values, rel=1e-5, abs=1e-7
    )
    assert [step["date"] for step in payload["forecast"]] == trained.dates


def test_forecast_of_the_champion_in_a_local_store_starts_no_mlflow(tiny_outcome, tmp_path):
    from fincast.tracking.run_tracker import RunTracker
    from fincast.tracking.store import resolve_uri
    from fincast.training.record import record_training

    _, outcome = tiny_outcome
    store = resolve_uri("sqlite:///mlflow.db", tmp_path)
    tracker = RunTracker(store, "unit")
    record_training(tracker, outcome, params={}, config_yaml="", tags={})
    tracker.finish()
    done, imported = forecast_in_subprocess(tmp_path, "backend=jax", "output=json")
    assert "mlflow" not in imported and "tensorflow" not in imported
    payload = json.loads(done.stdout)
    assert payload["model_uri"] == "models:/fincast-returns-lstm@champion"
    (trained,) = [forecast for forecast in outcome.forecasts if forecast.ticker == "^GSPC"]
    assert [step["value"] for step in payload["forecast"]] == pytest.approx(
        trained.values, rel=1e-5, abs=1e-7
    )
