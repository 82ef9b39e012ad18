"""A Keras callback that logs each epoch's metrics to the run as training goes."""

from __future__ import annotations

from typing import Any

import keras

from fincast.tracking.run_tracker import RunTracker


class EpochLogger(keras.callbacks.Callback):
    """Log ``epoch_<metric>`` (loss, val_loss, ..., learning_rate) with the epoch as step.

    A tracking failure is recorded by the tracker and never stops training.
    """

    def __init__(self, tracker: RunTracker) -> None:
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        metrics = {f"epoch_{name}": float(value) for name, value in (logs or {}).items()}
        # the rate this epoch trained with (the plateau schedule may lower it after)
        metrics["epoch_learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        self.tracker.log_metrics(metrics, step=epoch)
        self.tracker.epochs_logged += 1
