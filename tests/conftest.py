"""Shared test setup: the Keras backend is fixed before any test imports keras."""

from __future__ import annotations

import os

# One backend per process; JAX starts fastest. Cross-backend tests use subprocesses.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


import pytest


@pytest.fixture(scope="session")
def tiny_outcome(tmp_path_factory):
    """A real, tiny training run on the bundled data (both tickers), shared by tests."""
    from fincast.training.pipeline import run_training
    from jobs import make_job

    job = make_job(
        tickers=["^GSPC", "^IXIC"],
        units=4,
        lookback=10,
        horizon=3,
        epochs=1,
        test_days=60,
        verbose=0,
        models=str(tmp_path_factory.mktemp("models")),
    )
    return job, run_training(job)
