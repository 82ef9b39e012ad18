"""Every fast path equals its reference path, on every backend (numbers, not timings).

Keras fixes its backend once per process, so ``worker.py`` runs once per backend, the
three in parallel, and records each check's largest absolute difference; the tests
here judge them:

* serving (``fincast.serving.fast_predict``): the compiled path of every model family
  vs ``model.predict``, within 1e-6, and ``Forecaster.predict_window`` of a loaded
  model really serving it;
* ``FusedLSTM`` vs ``keras.layers.LSTM`` on every backend (PyTorch's fused kernel,
  TensorFlow's ``BlockLSTM`` op in batch shards, JAX's batch over 2 host devices):
  outputs and gradients within 1e-5, the fused path used where it applies and Keras'
  loop where it does not (mask, recurrent dropout, relu, go_backwards, mixed precision;
  XLA on TensorFlow), Adam steps ending at the same weights; on PyTorch with the batch
  in shards over threads (``fincast.models.lstm_shards_fastpath``), ``train_model``
  ending at one kernel call's weights and the traced serving path still computing new
  inputs;
* the saved format: ``fincast>LSTM`` with ``keras.layers.LSTM``'s config and weights.

Speed itself is measured by ``benchmarks/`` (``make bench``), never asserted here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fincast.backend import BACKENDS, installed_backends

pytestmark = pytest.mark.cross_backend

WORKER = Path(__file__).with_name("worker.py")
TIMEOUT_SECONDS = 400
SERVING_ATOL = 1e-6
LSTM_ATOL = 1e-5
JAX_HOST_DEVICES = 2


def _worker_module() -> Any:
    spec = importlib.util.spec_from_file_location("fast_path_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_WORKER = _worker_module()
SERVED_MODELS = _WORKER.SERVED_MODELS
LSTM_CASES = _WORKER.LSTM_CASES


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run the worker once per backend, in parallel; return each backend's checks."""
    missing = sorted(set(BACKENDS) - set(installed_backends()))
    if missing:
        pytest.fail(f"Backends {missing} are not installed (run `make install-dev`).")
    directory = tmp_path_factory.mktemp("fast_paths")
    processes = {}
    for backend in BACKENDS:
        environment = {
            **os.environ,
            "KERAS_BACKEND": backend,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "FINCAST_JAX_HOST_DEVICES": str(JAX_HOST_DEVICES),  # whatever the cores
        }
        log = (directory / f"{backend}.log").open("w")
        command = [sys.executable, str(WORKER), str(directory / f"{backend}.json")]
        processes[backend] = (
            subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT),
            log,
        )
    crashed = []
    for backend, (process, log) in processes.items():
        try:
            code = process.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        log.close()
        if code != 0:
            tail = (directory / f"{backend}.log").read_text()[-3000:]
            crashed.append(f"worker on {backend} exited with {code}:\n{tail}")
    if crashed:
        pytest.fail("\n\n".join(crashed), pytrace=False)
    reports = {
        backend: json.loads((directory / f"{backend}.json").read_text()) for backend in BACKENDS
    }
    assert reports["jax"]["jax_devices"] == JAX_HOST_DEVICES, "JAX did not get its CPU devices"
    return {backend: report["checks"] for backend, report in reports.items()}


def _result(reports: dict[str, dict[str, Any]], backend: str, name: str) -> dict[str, Any]:
    result = reports[backend][name]
    assert "error" not in result, f"{name} on {backend} raised:\n{result['error']}"
    return result


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", SERVED_MODELS)
def test_compiled_forecast_equals_model_predict(reports, backend: str, model: str) -> None:
    result = _result(reports, backend, f"serving_{model}")
    assert result["compiled"], f"{model} on {backend} was not compiled"
    assert result["max_abs_diff"] <= SERVING_ATOL, (
        f"{model} on {backend}: the compiled forecast differs from model.predict by "
        f"{result['max_abs_diff']:.3g} ({result['gaps']})"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_forecaster_serves_the_compiled_path(reports, backend: str) -> None:
    result = _result(reports, backend, "forecaster_serves_fast_path")
    assert result["compiled"], f"predict_window on {backend} fell back to predict_on_batch"
    assert result["max_abs_diff"] <= SERVING_ATOL


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", LSTM_CASES)
def test_fused_lstm_equals_keras_lstm(reports, backend: str, case: str) -> None:
    result = _result(reports, backend, f"lstm_{case}")
    assert result["fused_kernel_used"] == result["fused_kernel_expected"], result
    assert result["output_gap"] <= LSTM_ATOL, f"outputs differ by {result['output_gap']:.3g}"
    assert max(result["gradient_gaps"]) <= LSTM_ATOL, (
        f"gradients (kernel, recurrent kernel, [bias], inputs) differ: {result['gradient_gaps']}"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_fused_lstm_trains_like_keras_lstm(reports, backend: str) -> None:
    result = _result(reports, backend, "training_steps_match_keras_lstm")
    assert result["fused_layers"] == ["fincast.models.fused_lstm"]
    assert result["fused_kernel_used"] and not result["plain_used_fused_kernel"], result
    assert result["max_abs_diff"] <= LSTM_ATOL, f"weights differ by {result['max_abs_diff']:.3g}"


@pytest.mark.parametrize(("backend", "shards"), [("jax", JAX_HOST_DEVICES), ("tensorflow", 2)])
def test_train_model_records_the_shards_a_batch_ran_in(reports, backend: str, shards: int) -> None:
    result = _result(reports, backend, "train_model_reports_its_shards")
    assert result["fused_kernel_used"]
    assert result["lstm_shards"] == shards  # 64 windows: at most one shard per 32


def test_xla_training_on_tensorflow_keeps_keras_loop(reports) -> None:
    result = _result(reports, "tensorflow", "xla_training_keeps_keras_loop")
    assert not result["fused_kernel_used"], "the fused op ran under XLA"
    assert result["max_abs_diff"] <= LSTM_ATOL


def test_sharded_lstm_training_ends_at_one_kernels_weights(reports) -> None:
    result = _result(reports, "torch", "sharded_training_matches_one_kernel")
    assert result["shard_counts"] == {"1": [], "2": [2]}, result  # the shards really ran
    assert result["training_moved"] > 1e-3  # the weights trained
    assert result["max_abs_diff"] <= LSTM_ATOL, f"weights differ by {result['max_abs_diff']:.3g}"


def test_a_batch_over_the_memory_limit_trains_in_pieces_like_one_kernel(reports) -> None:
    result = _result(reports, "torch", "sharded_memory_pieces_train_like_one_kernel")
    # each of the 2 batches in 4 pieces of 32 windows, whatever the thread count
    assert result["shard_counts"] == {"1": [], "auto": [4]}, result
    assert result["lstm_shards"] == {"1": 1, "auto": 4}, result  # the card's figure
    assert result["max_abs_diff"] <= LSTM_ATOL, f"weights differ by {result['max_abs_diff']:.3g}"


def test_traced_serving_never_freezes_sharded_outputs(reports) -> None:
    result = _result(reports, "torch", "sharded_serving_matches_model_predict")
    assert result["max_abs_diff"] <= SERVING_ATOL, result
    assert result["shard_counts"] == [2]  # model.predict sharded; the trace did not


def test_plain_lstm_models_are_served_with_the_fused_kernel(reports) -> None:
    result = _result(reports, "torch", "with_fused_lstm_keeps_outputs")
    assert result["swapped_layers"] == 2 and not result["same_model"]
    assert result["max_abs_diff"] <= SERVING_ATOL


def test_shape_pass_gives_keras_shapes_without_the_kernel(reports) -> None:
    result = _result(reports, "torch", "symbolic_build_skips_the_kernel")
    for fused, plain in result["shapes"].values():
        assert fused == plain
    # training ran the kernel on real tensors; Keras' shape passes never on meta ones
    assert result["kernel_devices"] == ["cpu"], result


@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_fused_lstm_is_a_keras_lstm(reports, backend: str) -> None:
    result = _result(reports, backend, "saved_format_is_keras_lstm")
    assert result["registered_name"] == "fincast>LSTM"
    assert result["config_equal"], "the saved config is not keras.layers.LSTM's"
    assert result["weight_shapes"] == result["keras_weight_shapes"]
    assert result["weight_paths_equal"]
    assert result["weights_file_equal"], "model.weights.h5 is laid out unlike keras.layers.LSTM's"
    assert result["loaded_class"] == "keras.src.layers.rnn.lstm.LSTM"
    assert result["max_abs_diff"] <= SERVING_ATOL


@pytest.mark.parametrize("backend", [name for name in BACKENDS if name != "torch"])
def test_torch_only_checks_are_skipped_elsewhere(reports, backend: str) -> None:
    skipped = [name for name, result in reports[backend].items() if "skipped" in result]
    assert skipped, f"no torch-only check was skipped on {backend}"
    prefixes = ("xla_", "with_", "sharded_", "symbolic_")
    assert all(name.startswith(prefixes) for name in skipped), skipped
