"""Keep Keras from queueing steps far ahead of JAX's CPU devices while they meet in collectives.

On JAX, Keras dispatches training and validation steps asynchronously: the Python loop
runs ahead and XLA queues the steps. With several CPU devices
(:func:`fincast.backend.configure_jax_host_devices`), a step whose devices exchange
data (the weight gradients of :mod:`fincast.models.lstm_jax_fastpath`, or Keras'
``DataParallel``) runs one part per device, and each device's part meets the others'
in an all-reduce. XLA's CPU client launches those parts on a thread pool with as many
threads as devices (on a machine with no more cores than devices) and stops a launch
while a device has too many steps queued. Once the loop is a few dozen steps ahead, a
launch blocked that way can hold the thread that another device's part needs to reach
the all-reduce, and XLA aborts the process after 40 s ("Termination timeout for all
reduce ... only 1 of them arrived"). ``tests/fitting/test_dispatch.py`` reproduces it
with 200 steps an epoch.

:class:`BoundedDispatch` lets the loop run at most :data:`MAX_STEPS_AHEAD` steps
ahead of the last finished one, which keeps Python's dispatch overlapping the devices'
work without ever filling their queues. :func:`dispatch_guards` adds it where it is
needed; ``train_model`` passes them to ``fit``.
"""

from __future__ import annotations

import threading
from typing import Any

import keras

from fincast.backend import active_host_devices

MAX_STEPS_AHEAD = 4
WAIT_SECONDS = 60.0  # a step slower than this lets the loop go on rather than stall it


class BoundedDispatch(keras.callbacks.Callback):
    """Hold each training or validation step while ``steps_ahead`` steps before it run.

    Step ``b`` starts once step ``b - 1 - steps_ahead`` has ended. A step has ended when
    Keras hands its logs to the batch-end callbacks (on a worker thread, once the logs
    are computed). The batch-end hooks are safe to run there, so Keras keeps its
    asynchronous dispatch (``async_safe``).
    """

    async_safe = True

    def __init__(
        self, steps_ahead: int = MAX_STEPS_AHEAD, wait_seconds: float = WAIT_SECONDS
    ) -> None:
        super().__init__()
        if steps_ahead < 0:
            raise ValueError(f"steps_ahead must be >= 0. Received: {steps_ahead=}")
        self.steps_ahead = steps_ahead
        self.wait_seconds = wait_seconds
        self._condition = threading.Condition()
        self._finished = {"train": -1, "test": -1}

    def _restart(self, loop: str) -> None:
        with self._condition:
            self._finished[loop] = -1

    def _wait(self, loop: str, batch: int) -> None:
        with self._condition:
            self._condition.wait_for(
                lambda: self._finished[loop] >= batch - 1 - self.steps_ahead,
                timeout=self.wait_seconds,
            )

    def _finish(self, loop: str, batch: int) -> None:
        with self._condition:
            self._finished[loop] = max(self._finished[loop], batch)
            self._condition.notify_all()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._restart("train")

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._wait("train", batch)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._finish("train", batch)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._restart("test")

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._wait("test", batch)

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._finish("test", batch)


def dispatch_guards() -> list[keras.callbacks.Callback]:
    """``[BoundedDispatch()]`` on JAX with several CPU devices; no callbacks elsewhere."""
    if keras.backend.backend() != "jax" or active_host_devices() < 2:
        return []
    return [BoundedDispatch()]
