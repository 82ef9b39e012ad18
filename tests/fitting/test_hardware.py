"""Precision and data parallelism: the refusal rules, the policy scope, two simulated devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from fincast.fitting.fit import train_model
from fincast.fitting.hardware import (
    Hardware,
    HardwareError,
    check_distribution,
    check_precision,
    detect_hardware,
    training_hardware,
)
from fincast.models.builders import build_t2v_attention, fit_scaling
from fincast.models.losses import PinballLoss

CPU = Hardware("jax", ("CPU:0",))
TWO_CPUS = Hardware("jax", ("CPU:0", "CPU:1"))
TURING = Hardware("jax", ("GPU:0", "CPU:0"), compute_capability=7.5)
AMPERE = Hardware("torch", ("CPU:0", "GPU:0"), compute_capability=8.0)
TPU = Hardware("jax", ("TPU:0", "TPU:1"))


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
@pytest.mark.parametrize("precision", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_every_precision_is_allowed_on_cpu(backend, precision):
    # measured on this CPU: every model family trains under each precision on each backend
    check_precision(precision, Hardware(backend, ("CPU:0",)))


@pytest.mark.parametrize(
    ("precision", "hardware", "message"),
    [
        ("float64", CPU, "Unknown training.precision 'float64'; choose one of float32, "),
        ("mixed_bfloat16", TURING, "this GPU has 7.5. Use mixed_float16 or float32."),
        ("mixed_float16", TPU, "does not run on TPUs; use mixed_bfloat16 or float32."),
    ],
)
def test_precision_refusals_name_what_works(precision, hardware, message):
    with pytest.raises(HardwareError, match=message) as error:
        check_precision(precision, hardware)
    assert "\n" not in str(error.value)


def test_gpu_precisions_that_run():
    check_precision("mixed_bfloat16", AMPERE)
    check_precision("mixed_float16", TURING)
    check_precision("mixed_bfloat16", TPU)


@pytest.mark.parametrize(
    ("distribution", "hardware", "message"),
    [
        ("model_parallel", TWO_CPUS, "Unknown training.distribution 'model_parallel'"),
        ("data_parallel", Hardware("tensorflow", ("GPU:0", "GPU:1")), "needs the JAX backend"),
        ("data_parallel", CPU, "needs 2 or more devices; JAX sees CPU:0.*xla_force_host"),
        ("data_parallel", Hardware("jax", ("GPU:0", "CPU:0", "CPU:1")), "JAX sees GPU:0, "),
    ],
)
def test_distribution_refusals(distribution, hardware, message):
    with pytest.raises(HardwareError, match=message):
        check_distribution(distribution, hardware)


def test_distributions_that_run():
    check_distribution("none", Hardware("torch", ("CPU:0",)))
    check_distribution("data_parallel", TWO_CPUS)
    check_distribution("data_parallel", Hardware("jax", ("GPU:0", "GPU:1", "CPU:0")))


def test_this_machine_is_detected():
    hardware = detect_hardware()
    assert hardware.backend == "jax" and hardware.kind == "cpu"
    assert hardware.accelerators == hardware.devices
    assert hardware.compute_capability is None


def test_mixed_precision_trains_and_keeps_forecasts_full_precision():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(64, 8, 2)).astype("float32")
    targets = rng.normal(size=(64, 2)).astype("float32")
    before = keras.mixed_precision.global_policy().name
    with training_hardware(precision="mixed_bfloat16", hardware=CPU) as setup:
        model = build_t2v_attention(
            lookback=8,
            num_features=2,
            horizon=2,
            scaling=fit_scaling(inputs, targets),
            quantiles=[0.1, 0.5, 0.9],
            time2vec_dim=3,
            units=4,
            attention_units=3,
        )
        result = train_model(
            model,
            (inputs, targets),
            epochs=1,
            batch_size=32,
            loss=PinballLoss([0.1, 0.5, 0.9]),
            verbose=0,
        )
    assert setup.as_card() == {
        "precision": "mixed_bfloat16",
        "distribution": "none",
        "devices": ["CPU:0"],
    }
    assert keras.mixed_precision.global_policy().name == before == "float32"
    assert model.get_layer("lstm").compute_dtype == "bfloat16"
    assert model.get_layer("time2vec").compute_dtype == "bfloat16"
    for name in ("normalise", "revin", "head", "denorm", "rescale"):
        assert model.get_layer(name).compute_dtype == "float32", name
    forecasts = model.predict_on_batch(inputs)
    assert forecasts.dtype == np.float32 and np.isfinite(forecasts).all()
    assert np.isfinite(result.history["loss"][0])


def test_refused_choice_leaves_the_policy_alone():
    with pytest.raises(HardwareError), training_hardware("mixed_float16", hardware=TPU):
        pass
    assert keras.mixed_precision.global_policy().name == "float32"


def test_data_parallel_on_two_simulated_cpu_devices():
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": str(root / "src"),
    }
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("dp_worker.py"))],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["devices"] == ["cpu:0", "cpu:1"]
    assert report["kernel_devices"] == 2 and report["kernel_replicated"]
    assert np.isfinite(report["loss"]) and np.isfinite(report["val_loss"])
    assert report["predict_shape"] == [7, 1]
    assert (
        "batch_size must be a multiple of the 2 data-parallel devices"
        in (report["odd_batch_error"])
    )
    assert report["precision_error"].startswith("Unknown training.precision 'float64'")
