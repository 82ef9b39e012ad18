"""Cross-backend worker: one process, one Keras backend (``KERAS_BACKEND`` set by the caller).

Run by ``test_cross_backend.py`` as a subprocess, never imported by pytest:

    python worker.py train WORKDIR   # build, train twice (determinism), save every builder
    python worker.py load WORKDIR    # load every saved model of every backend, forecast

``WORKDIR/data.npz`` holds the tiny training set and the fixed probe input. Outputs:

    WORKDIR/<backend>/<builder>.keras (+ .json card)   the saved model
    WORKDIR/<backend>/<builder>.native.npy             forecast of the in-memory model
    WORKDIR/<backend>/train.json                       errors + determinism report
    WORKDIR/loaded_by_<backend>/<source>__<builder>.npy  forecast after loading
    WORKDIR/loaded_by_<backend>/load.json              errors per loaded file

A failure in one builder is recorded (with its traceback) and the worker goes on,
so the test can say exactly which builder on which backend failed.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

SEED = 1234
LOOKBACK = 12
HORIZON = 2
EPOCHS = 1
BATCH_SIZE = 32


QUANTILES = (0.1, 0.5, 0.9)
# Options that switch on fincast's custom layers, tried on the LSTM when it accepts them.
CUSTOM_LAYER_OPTIONS: dict[str, Any] = {
    "pooling": "attention",
    "quantiles": QUANTILES,
    "reversible_norm": True,
}


class ModelSpec(NamedTuple):
    """A builder (taking lookback, num_features, horizon, scaling) and its training loss."""

    build: Callable[..., Any]
    loss: Any = "mse"


def model_specs() -> dict[str, ModelSpec]:
    """Every model to check: each registered builder with its defaults, plus an LSTM
    with attention pooling, a quantile head (pinball loss) and reversible
    normalisation when ``build_lstm`` takes those options."""
    from fincast.models import builders

    fallback = {"lstm": builders.build_lstm, "mlp": builders.build_mlp}
    specs = {
        name: ModelSpec(build) for name, build in getattr(builders, "BUILDERS", fallback).items()
    }
    accepted = inspect.signature(builders.build_lstm).parameters
    if all(option in accepted for option in CUSTOM_LAYER_OPTIONS):
        from fincast.models.losses import PinballLoss

        specs["lstm_custom_layers"] = ModelSpec(
            functools.partial(builders.build_lstm, **CUSTOM_LAYER_OPTIONS),
            PinballLoss(QUANTILES),
        )
    return specs


def _card(num_features: int) -> dict[str, Any]:
    return {
        "features": [f"feature_{index}" for index in range(num_features)],
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "tickers": ["TEST"],
        "backend": os.environ["KERAS_BACKEND"],
    }


def _train_once(spec: ModelSpec, data: Any) -> Any:
    from fincast.fitting.fit import set_seed, train_model
    from fincast.models.builders import fit_scaling

    inputs, targets = data["train_x"], data["train_y"]
    set_seed(SEED)
    model = spec.build(
        lookback=inputs.shape[1],
        num_features=inputs.shape[2],
        horizon=targets.shape[1],
        scaling=fit_scaling(inputs, targets),
    )
    train_model(
        model,
        (inputs, targets),
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        loss=spec.loss,
        verbose=0,
    )
    return model


def _weights_report(first: list[np.ndarray], second: list[np.ndarray]) -> dict[str, Any]:
    differing = [
        index
        for index, (one, two) in enumerate(zip(first, second, strict=True))
        if not np.array_equal(one, two)
    ]
    max_difference = max(
        (float(np.max(np.abs(first[index] - second[index]))) for index in differing),
        default=0.0,
    )
    return {
        "identical": not differing and len(first) == len(second),
        "weights": len(first),
        "differing": differing,
        "max_abs_difference": max_difference,
    }


def train_phase(workdir: Path, backend: str) -> dict[str, Any]:
    from fincast.fitting.fit import save_model

    data = np.load(workdir / "data.npz")
    out = workdir / backend
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"errors": {}, "determinism": {}, "seconds": {}}
    for name, spec in model_specs().items():
        started = time.perf_counter()
        try:
            model = _train_once(spec, data)
            first = [np.array(weight) for weight in model.get_weights()]
            save_model(model, out / f"{name}.keras")
            (out / f"{name}.json").write_text(json.dumps(_card(data["train_x"].shape[2])))
            native = np.asarray(model.predict_on_batch(data["probe_x"]))
            np.save(out / f"{name}.native.npy", native)
            second = [np.array(weight) for weight in _train_once(spec, data).get_weights()]
            report["determinism"][name] = _weights_report(first, second)
        except Exception:
            report["errors"][name] = traceback.format_exc()
        report["seconds"][name] = round(time.perf_counter() - started, 2)
    return report


def load_phase(workdir: Path, backend: str) -> dict[str, Any]:
    from fincast.serving.forecast import load_forecaster

    probe = np.load(workdir / "data.npz")["probe_x"]
    out = workdir / f"loaded_by_{backend}"
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"errors": {}, "loaded": []}
    for model_path in sorted(workdir.glob("*/*.keras")):
        if model_path.parent.name.startswith("loaded_by_"):
            continue
        key = f"{model_path.parent.name}__{model_path.stem}"
        try:
            forecaster = load_forecaster(str(model_path))
            np.save(out / f"{key}.npy", forecaster.predict_window(probe))
            report["loaded"].append(key)
        except Exception:
            report["errors"][key] = traceback.format_exc()
    return report


def main(arguments: list[str]) -> int:
    phase, workdir = arguments[0], Path(arguments[1])
    backend = os.environ["KERAS_BACKEND"]
    import keras

    if keras.backend.backend() != backend:
        raise SystemExit(f"Keras runs on {keras.backend.backend()!r}, expected {backend!r}")
    started = time.perf_counter()
    if phase == "train":
        report = train_phase(workdir, backend)
        report_path = workdir / backend / "train.json"
    elif phase == "load":
        report = load_phase(workdir, backend)
        report_path = workdir / f"loaded_by_{backend}" / "load.json"
    else:
        raise SystemExit(f"Unknown phase {phase!r}; use train or load.")
    report["backend"] = backend
    report["keras"] = keras.__version__
    report["total_seconds"] = round(time.perf_counter() - started, 2)
    report_path.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
