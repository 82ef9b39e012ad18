"""Run by test_hardware.py in a subprocess with two simulated CPU devices (JAX)."""

from __future__ import annotations

import json
import sys

import numpy as np

from fincast.fitting.fit import train_model
from fincast.fitting.hardware import HardwareError, training_hardware
from fincast.models.builders import build_mlp, fit_scaling


def main() -> None:
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(101, 6, 2)).astype("float32")  # 101: not a multiple of 2
    targets = inputs[:, -1, :1].astype("float32")
    scaling = fit_scaling(inputs, targets)
    report: dict[str, object] = {}
    with training_hardware(distribution="data_parallel") as setup:
        model = build_mlp(lookback=6, num_features=2, horizon=1, scaling=scaling, units=[8])
        result = train_model(
            model,
            (inputs[:80], targets[:80]),
            (inputs[80:], targets[80:]),
            epochs=1,
            batch_size=8,
            verbose=0,
        )
        try:
            train_model(model, (inputs, targets), epochs=1, batch_size=7, verbose=0)
        except ValueError as error:
            report["odd_batch_error"] = str(error)
    kernel = model.get_layer("dense_0").kernel.value
    report.update(
        replicas=setup.replicas,
        devices=list(setup.devices),
        kernel_devices=len(kernel.devices()),
        kernel_replicated=bool(kernel.sharding.is_fully_replicated),
        loss=result.history["loss"][0],
        val_loss=result.history["val_loss"][0],
        # after the block, any batch size predicts (7 rows do not split over 2 devices)
        predict_shape=list(np.asarray(model.predict(inputs[:7], verbose=0)).shape),
    )
    try:
        with training_hardware(precision="float64"):
            pass
    except HardwareError as error:
        report["precision_error"] = str(error)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
