"""TensorFlow stays out of a JAX process: no import, no C++ banners, nothing it does not need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROBE = """
import sys
sys.path.insert(0, {tests!r})
from jobs import make_job
from fincast.training.pipeline import run_training
from fincast.training.record import record_training
from fincast.tracking.run_tracker import RunTracker
outcome = run_training(make_job(model="mlp", units=[4], lookback=10, horizon=3, epochs=1,
                                test_days=60, verbose=0, models={models!r}))
tracker = RunTracker("sqlite:///{store}", "quiet", run_name="probe")
record_training(tracker, outcome, params={{}}, config_yaml="", tags={{"backend": "jax"}})
tracker.finish()
print("TENSORFLOW_IMPORTED=" + str("tensorflow" in sys.modules))
"""


def test_training_saving_and_logging_on_jax_never_import_tensorflow(tmp_path: Path):
    code = PROBE.format(
        tests=str(Path(__file__).parents[1]),
        models=str(tmp_path / "models"),
        store=tmp_path / "mlflow.db",
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TENSORFLOW_IMPORTED=False" in result.stdout
    assert "oneDNN" not in result.stderr and "cuda" not in result.stderr.lower()
