"""Portability: every builder trains, saves and repeats on every backend, and loads on all.

Keras fixes its backend once per process, so the work runs in subprocesses
(``worker.py``), each with ``KERAS_BACKEND`` set explicitly, in two phases:

1. one process per backend builds every builder, trains it one epoch on tiny data
   (twice with the same seed, to check that CPU training repeats exactly), saves it
   as ``.keras`` and writes its forecast of a fixed probe input;
2. one process per backend loads every saved model of every backend through
   fincast's serving path (``load_forecaster``, safe mode) and forecasts the probe.

The three backends of a phase run in parallel. Every (trained on, loaded on) pair,
all nine per builder, must agree with the trained model's own forecast within 1e-5.
New builders in ``fincast.models.builders.BUILDERS`` are covered automatically, and an
LSTM variant switches on fincast's custom layers (attention pooling, quantile head,
reversible normalisation).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fincast.backend import BACKENDS, installed_backends

pytestmark = pytest.mark.cross_backend

WORKER = Path(__file__).with_name("worker.py")
PHASE_TIMEOUT_SECONDS = 400
ATOL = 1e-5


def _worker_module() -> Any:
    spec = importlib.util.spec_from_file_location("cross_backend_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER_NAMES = sorted(_worker_module().model_specs())


def _write_data(workdir: Path) -> None:
    rng = np.random.default_rng(20261126)
    inputs = rng.normal(size=(96, 12, 3)).astype("float32")
    targets = 0.5 * inputs[:, -2:, 0] + 0.1 * rng.normal(size=(96, 2))
    probe = rng.normal(size=(8, 12, 3)).astype("float32")
    np.savez(workdir / "data.npz", train_x=inputs, train_y=targets.astype("float32"), probe_x=probe)


def _run_phase(phase: str, workdir: Path) -> None:
    """Run one worker per backend in parallel; fail with the stderr of any that crashed."""
    processes = {}
    for backend in BACKENDS:
        environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        log = (workdir / f"{phase}_{backend}.log").open("w")
        processes[backend] = (
            subprocess.Popen(
                [sys.executable, str(WORKER), phase, str(workdir)],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            log,
        )
    crashed = []
    for backend, (process, log) in processes.items():
        try:
            code = process.wait(timeout=PHASE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        log.close()
        if code != 0:
            tail = (workdir / f"{phase}_{backend}.log").read_text()[-3000:]
            crashed.append(f"{phase} worker on {backend} exited with {code}:\n{tail}")
    if crashed:
        pytest.fail("\n\n".join(crashed), pytrace=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run both phases once for the whole module; return the directory of their outputs."""
    missing = sorted(set(BACKENDS) - set(installed_backends()))
    if missing:
        pytest.fail(
            f"Backends {missing} are not installed; cross-backend tests need all of "
            f"{list(BACKENDS)} (run `make install-dev`).",
            pytrace=False,
        )
    directory = tmp_path_factory.mktemp("cross_backend")
    _write_data(directory)
    _run_phase("train", directory)
    _run_phase("load", directory)
    return directory


def _report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_builder_trains_and_saves(workdir: Path, backend: str) -> None:
    report = _report(workdir / backend / "train.json")
    assert not report["errors"], "\n".join(
        f"{name} on {backend}:\n{error}" for name, error in report["errors"].items()
    )
    saved = sorted(path.stem for path in (workdir / backend).glob("*.keras"))
    assert saved == BUILDER_NAMES


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_trains_identical_weights(workdir: Path, backend: str) -> None:
    determinism = _report(workdir / backend / "train.json")["determinism"]
    differing = {name: entry for name, entry in determinism.items() if not entry["identical"]}
    assert not differing, f"Two same-seed trainings on {backend} differ: {differing}"
    assert sorted(determinism) == BUILDER_NAMES


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_saved_model_loads(workdir: Path, backend: str) -> None:
    report = _report(workdir / f"loaded_by_{backend}" / "load.json")
    assert not report["errors"], "\n".join(
        f"{key} loaded on {backend}:\n{error}" for key, error in report["errors"].items()
    )
    expected = [f"{source}__{name}" for source in BACKENDS for name in BUILDER_NAMES]
    assert sorted(report["loaded"]) == sorted(expected)


@pytest.mark.parametrize("builder", BUILDER_NAMES)
def test_forecasts_agree_across_backends(workdir: Path, builder: str) -> None:
    """All nine (trained on, loaded on) pairs give the trained model's forecast."""
    failures = []
    for source, target in itertools.product(BACKENDS, BACKENDS):
        pair = f"trained on {source}, loaded on {target}"
        try:
            expected = np.load(workdir / source / f"{builder}.native.npy")
            actual = np.load(workdir / f"loaded_by_{target}" / f"{source}__{builder}.npy")
            np.testing.assert_allclose(actual, expected, rtol=0, atol=ATOL, err_msg=pair)
        except (OSError, AssertionError) as error:
            failures.append(f"{builder}, {pair}: {str(error).strip()}")
    assert not failures, "\n\n".join(failures)
