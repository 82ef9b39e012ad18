"""BoundedDispatch keeps Keras' loop a few steps ahead of JAX's CPU devices.

The end-to-end test trains 200 steps an epoch on JAX with 2 CPU devices: without the
guard, Keras queues dozens of steps, XLA's CPU client deadlocks in the LSTM's
all-reduce, and XLA aborts the process (here after 10 s, its collective timeout
shortened through ``XLA_FLAGS``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from fincast.fitting.dispatch import BoundedDispatch

PATIENCE_SECONDS = 0.3  # how long a step that must wait is seen waiting

TRAINING = """
import numpy as np
from fincast.backend import select_backend
select_backend("jax")
import jax
from fincast.fitting.dispatch import dispatch_guards
from fincast.fitting.fit import train_model
from fincast.models.builders import build_lstm, fit_scaling
rng = np.random.default_rng(0)
inputs = rng.normal(size=(12800, 60, 5)).astype("float32")
targets = rng.normal(size=(12800, 1)).astype("float32")
model = build_lstm(lookback=60, num_features=5, horizon=1, scaling=fit_scaling(inputs, targets))
result = train_model(
    model, (inputs, targets), (inputs[:6400], targets[:6400]),
    epochs=1, batch_size=64, patience=0, verbose=0,
)
print(len(jax.devices()), result.lstm_shards, [type(guard).__name__ for guard in dispatch_guards()])
"""


def _begin_in_thread(guard: BoundedDispatch, batch: int, loop: str = "train") -> threading.Event:
    """Call ``on_<loop>_batch_begin(batch)`` on a thread; the event is set once it returned."""
    returned = threading.Event()

    def begin() -> None:
        getattr(guard, f"on_{loop}_batch_begin")(batch)
        returned.set()

    threading.Thread(target=begin, daemon=True).start()
    return returned


@pytest.mark.parametrize("loop", ["train", "test"])
def test_a_step_waits_until_the_step_steps_ahead_before_it_ended(loop):
    guard = BoundedDispatch(steps_ahead=2)
    begin, end = getattr(guard, f"on_{loop}_batch_begin"), getattr(guard, f"on_{loop}_batch_end")
    for batch in range(3):  # steps 0-2 need nothing to have ended
        begin(batch)
    returned = _begin_in_thread(guard, 3, loop)
    assert not returned.wait(PATIENCE_SECONDS), "step 3 went ahead of step 0"
    end(0)
    assert returned.wait(10), "step 3 still waits after step 0 ended"


def test_each_epoch_and_each_validation_counts_from_its_first_step():
    guard = BoundedDispatch(steps_ahead=0)
    guard.on_train_batch_end(40)
    guard.on_test_batch_end(40)
    guard.on_epoch_begin(1)
    guard.on_test_begin()
    train, test = _begin_in_thread(guard, 1, "train"), _begin_in_thread(guard, 1, "test")
    assert not train.wait(PATIENCE_SECONDS) and not test.wait(0), "a stale step 40 let step 1 go"
    guard.on_train_batch_end(0)
    guard.on_test_batch_end(0)
    assert train.wait(10) and test.wait(10)


def test_a_slow_step_lets_the_loop_go_on_after_the_wait():
    guard = BoundedDispatch(steps_ahead=0, wait_seconds=0.2)
    started = time.perf_counter()
    guard.on_train_batch_begin(5)
    assert time.perf_counter() - started >= 0.2


def test_steps_ahead_must_not_be_negative():
    with pytest.raises(ValueError, match="steps_ahead must be >= 0"):
        BoundedDispatch(steps_ahead=-1)


@pytest.mark.slow
def test_two_hundred_steps_an_epoch_on_two_jax_devices_train_to_the_end():
    environment = {
        "PATH": "/usr/bin:/bin",
        "KERAS_BACKEND": "jax",
        "FINCAST_JAX_HOST_DEVICES": "2",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        # abort a stuck all-reduce after 10 s instead of XLA's 40 s
        "XLA_FLAGS": "--xla_cpu_collective_call_terminate_timeout_seconds=10 "
        "--xla_cpu_collective_call_warn_stuck_timeout_seconds=5",
    }
    result = subprocess.run(
        [sys.executable, "-c", TRAINING],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["2", "2", "['BoundedDispatch']"], result.stdout
