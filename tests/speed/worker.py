"""Fast-path equality worker: one process, one Keras backend (``KERAS_BACKEND`` set).

Run by ``test_fast_paths.py`` as a subprocess, never imported by pytest:

    python worker.py OUT.json

Every check compares a fast path with its reference on this backend and records the
largest absolute difference (and whether the fast path really ran); a check that
raises is recorded with its traceback, and the worker goes on.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

LOOKBACK, FEATURES, HORIZON = 12, 3, 2
CHECKS: dict[str, Callable[[], dict[str, Any]]] = {}


def check(function: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    CHECKS[function.__name__] = function
    return function


BACKEND = os.environ.get("KERAS_BACKEND", "")
SERVED_MODELS = ("mlp", "cnn", "t2v_attention", "lstm_custom_layers", "lstm_reference_size")
TORCH_ONLY = "batch shards over threads and the plain-LSTM swap are PyTorch's"


def _data(lookback: int = LOOKBACK, features: int = FEATURES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    inputs = rng.normal(size=(64, lookback, features)).astype("float32")
    targets = (0.5 * inputs[:, -HORIZON:, 0] + 0.1).astype("float32")
    return inputs, targets


def _gap(first: Any, second: Any) -> float:
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape:
        raise AssertionError(f"shapes differ: {first.shape} vs {second.shape}")
    return float(np.max(np.abs(first - second)))


def _builders() -> dict[str, Callable[..., Any]]:
    from fincast.models import builders

    return {
        **builders.BUILDERS,
        "lstm_custom_layers": functools.partial(
            builders.build_lstm,
            pooling="attention",
            quantiles=(0.1, 0.5, 0.9),
            reversible_norm=True,
            num_layers=2,
        ),
        "lstm_reference_size": functools.partial(builders.build_lstm, units=64),
    }


def _model(name: str) -> tuple[Any, np.ndarray]:
    from fincast.fitting.fit import set_seed
    from fincast.models.builders import fit_scaling

    lookback, features = (60, 5) if name == "lstm_reference_size" else (LOOKBACK, FEATURES)
    inputs, targets = _data(lookback, features)
    set_seed(3)
    model = _builders()[name](
        lookback=lookback,
        num_features=features,
        horizon=HORIZON,
        scaling=fit_scaling(inputs, targets),
    )
    return model, inputs


def _serving_check(name: str) -> dict[str, Any]:
    """compile_predict's compiled path (no runtime check) vs model.predict, batches 1 and 5."""
    from fincast.serving.fast_predict import compile_predict

    model, inputs = _model(name)
    predict = compile_predict(model, check=False)
    expected = model.predict(inputs[:5], verbose=0)
    gaps = {
        "batch_1": _gap(predict(inputs[:1]), expected[:1]),
        "batch_5": _gap(predict(inputs[:5]), expected),
        "batch_1_again": _gap(predict(inputs[:1]), expected[:1]),  # the cached executable
    }
    return {"max_abs_diff": max(gaps.values()), "gaps": gaps, "compiled": predict.compiled}


for _name in SERVED_MODELS:
    CHECKS[f"serving_{_name}"] = functools.partial(_serving_check, _name)


@check
def forecaster_serves_fast_path() -> dict[str, Any]:
    """Forecaster.predict_window of a saved and loaded model: compiled, equal to predict."""
    from fincast.fitting.fit import save_model
    from fincast.serving.forecast import load_forecaster

    model, inputs = _model("lstm_custom_layers")
    expected = model.predict(inputs[:1], verbose=0)
    with tempfile.TemporaryDirectory() as directory:
        path = save_model(model, Path(directory) / "model.keras")
        card = {"features": ["f"] * FEATURES, "lookback": LOOKBACK, "horizon": HORIZON}
        path.with_suffix(".json").write_text(json.dumps({**card, "tickers": ["TEST"]}))
        forecaster = load_forecaster(str(path))
    gaps = [_gap(forecaster.predict_window(inputs[:1]), expected) for _ in range(2)]
    return {"max_abs_diff": max(gaps), "compiled": forecaster._predict.compiled}


# ---- FusedLSTM against keras.layers.LSTM -------------------------------------------------

LSTM_CASES: dict[str, dict[str, Any]] = {
    # name: layer config + how it is called; "fused": the fused kernel applies on torch
    "last_state": {"config": {}, "fused": True},
    "sequences": {"config": {"return_sequences": True}, "fused": True},
    "no_bias": {"config": {"use_bias": False}, "fused": True},
    "initial_state": {"config": {}, "initial_state": True, "fused": True},
    "input_dropout_training": {
        "config": {"dropout": 0.3, "seed": 5},
        "training": True,
        "fused": True,
    },
    "recurrent_dropout_falls_back": {
        "config": {"recurrent_dropout": 0.3, "seed": 5},
        "training": True,
        "fused": False,
    },
    "relu_falls_back": {"config": {"activation": "relu"}, "fused": False},
    "go_backwards_falls_back": {"config": {"go_backwards": True}, "fused": False},
    "mask_falls_back": {"config": {"return_sequences": True}, "mask": True, "fused": False},
    "mixed_precision_falls_back": {"config": {"dtype": "mixed_bfloat16"}, "fused": False},
}


LSTM_BATCH = 64  # JAX splits a batch over its 2 host devices from 64 windows (32 each)
FAST_PATHS = {
    "torch": "fincast.models.lstm_fastpath",
    "tensorflow": "fincast.models.lstm_tf_fastpath",
    "jax": "fincast.models.lstm_jax_fastpath",
}


def _lstm_pair(config: dict[str, Any]) -> tuple[Any, Any]:
    import keras

    from fincast.models.fused_lstm import FusedLSTM

    reference = keras.layers.LSTM(6, **config)
    reference.build((None, 9, 4))
    fused = FusedLSTM.from_config(reference.get_config())
    fused.build((None, 9, 4))
    rng = np.random.default_rng(11)  # weights far from the initialisers' zeros and ones
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in reference.weights]
    reference.set_weights(weights)
    fused.set_weights(weights)
    return reference, fused


def _lstm_keywords(case: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(12)
    keywords: dict[str, Any] = {"training": case.get("training", False)}
    if case.get("initial_state"):
        keywords["initial_state"] = [
            rng.normal(size=(LSTM_BATCH, 6)).astype("float32") for _ in range(2)
        ]
    if case.get("mask"):
        mask = np.ones((LSTM_BATCH, 9), dtype=bool)
        mask[:2, -3:] = False
        keywords["mask"] = mask
    return keywords


def _lstm_outputs_and_gradients(layer: Any, case: dict[str, Any]) -> list[np.ndarray]:
    """The layer's output, and the gradients of a loss w.r.t. its weights and its inputs."""
    inputs = 2 * np.random.default_rng(13).normal(size=(LSTM_BATCH, 9, 4)).astype("float32")
    keywords = _lstm_keywords(case)

    def loss_of(outputs: Any) -> Any:
        from keras import ops

        return ops.mean(outputs**2) + ops.mean(ops.sin(3 * outputs))

    if BACKEND == "torch":
        import torch

        tensor = torch.tensor(inputs, requires_grad=True)
        outputs = layer(tensor, **keywords)
        variables = [variable.value for variable in layer.trainable_variables]
        gradients = torch.autograd.grad(loss_of(outputs), [*variables, tensor])
        return [outputs.detach().float().numpy(), *(grad.float().numpy() for grad in gradients)]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensor = tf.constant(inputs)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            outputs = layer(tensor, **keywords)
            loss = loss_of(outputs)
        gradients = tape.gradient(loss, [*layer.trainable_variables, tensor])
        return [np.asarray(tf.cast(outputs, "float32")), *(np.asarray(g) for g in gradients)]
    import jax

    trainable = [variable.value for variable in layer.trainable_variables]
    others = [variable.value for variable in layer.non_trainable_variables]

    def loss(weights: Any, tensor: Any) -> Any:
        outputs, _ = layer.stateless_call(weights, others, tensor, **keywords)
        return loss_of(outputs), outputs

    (_, outputs), (weight_gradients, input_gradients) = jax.value_and_grad(
        loss, argnums=(0, 1), has_aux=True
    )(trainable, inputs)
    gradients = [*weight_gradients, input_gradients]
    return [np.asarray(outputs, dtype="float32"), *(np.asarray(g) for g in gradients)]


def _fast_path_spy() -> Any:
    """A spy on this backend's fused LSTM function (``spy.called``: the fused path ran)."""
    import importlib

    module = importlib.import_module(FAST_PATHS[BACKEND])
    return mock.patch.object(module, "fused_lstm", wraps=module.fused_lstm)


def _lstm_check(case_name: str) -> dict[str, Any]:
    case = LSTM_CASES[case_name]
    reference, fused = _lstm_pair(case["config"])
    expected = _lstm_outputs_and_gradients(reference, case)
    with _fast_path_spy() as spy:
        actual = _lstm_outputs_and_gradients(fused, case)
    gaps = [_gap(one, two) for one, two in zip(actual, expected, strict=True)]
    return {
        "max_abs_diff": max(gaps),
        "output_gap": gaps[0],
        "gradient_gaps": gaps[1:],
        "fused_kernel_used": spy.called,
        "fused_kernel_expected": case["fused"],
    }


for _case in LSTM_CASES:
    CHECKS[f"lstm_{_case}"] = functools.partial(_lstm_check, _case)


def _plain_copy(model: Any) -> Any:
    """``model`` with every FusedLSTM replaced by keras.layers.LSTM, weights copied."""
    import keras

    from fincast.models.fused_lstm import FusedLSTM

    def clone(layer: Any) -> Any:
        if isinstance(layer, FusedLSTM):
            return keras.layers.LSTM.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _training_steps(jit_compile: bool) -> dict[str, Any]:
    """Three Adam steps of build_lstm's model (batches of 64) end with the plain-LSTM model's."""
    import keras

    from fincast.models.fused_lstm import FusedLSTM

    fused, _ = _model("lstm")
    plain = _plain_copy(fused)
    rng = np.random.default_rng(23)
    inputs = rng.normal(size=(3 * LSTM_BATCH, LOOKBACK, FEATURES)).astype("float32")
    targets = (0.5 * inputs[:, -HORIZON:, 0] + 0.1).astype("float32")
    used = {}
    for name, model in (("fused", fused), ("plain", plain)):
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=jit_compile)
        with _fast_path_spy() as spy:
            for start in range(0, len(inputs), LSTM_BATCH):
                batch = slice(start, start + LSTM_BATCH)
                model.train_on_batch(inputs[batch], targets[batch])
        used[name] = spy.called
    gaps = [_gap(a, b) for a, b in zip(fused.get_weights(), plain.get_weights(), strict=True)]
    kinds = {type(layer).__module__ for layer in fused.layers if isinstance(layer, FusedLSTM)}
    return {
        "max_abs_diff": max(gaps),
        "fused_layers": sorted(kinds),
        "fused_kernel_used": used["fused"],
        "plain_used_fused_kernel": used["plain"],
    }


@check
def training_steps_match_keras_lstm() -> dict[str, Any]:
    """Adam steps through the fused path end at Keras' loop's weights."""
    return _training_steps(jit_compile=False)


@check
def xla_training_keeps_keras_loop() -> dict[str, Any]:
    """Under XLA (jit_compile=True) TensorFlow's op cannot compile: Keras' loop runs."""
    if BACKEND != "tensorflow":
        return {"skipped": "only TensorFlow's fused op has no XLA kernel"}
    return _training_steps(jit_compile=True)


@check
def train_model_reports_its_shards() -> dict[str, Any]:
    """train_model's lstm_shards (the card's) for batches of 64: what the LSTM ran in."""
    from fincast.fitting.fit import train_model

    model, _ = _model("lstm")
    rng = np.random.default_rng(24)
    inputs = rng.normal(size=(2 * LSTM_BATCH, LOOKBACK, FEATURES)).astype("float32")
    targets = (0.5 * inputs[:, -HORIZON:, 0]).astype("float32")
    with _fast_path_spy() as spy:
        result = train_model(
            model, (inputs, targets), epochs=1, batch_size=LSTM_BATCH, patience=0, verbose=0
        )
    return {"lstm_shards": result.lstm_shards, "fused_kernel_used": spy.called}


@check
def saved_format_is_keras_lstm() -> dict[str, Any]:
    """Saved as fincast>LSTM with keras.layers.LSTM's config; loads as the plain layer."""
    import zipfile

    import keras

    from fincast.fitting.fit import save_model

    model, inputs = _model("lstm")
    with tempfile.TemporaryDirectory() as directory:
        path = save_model(model, Path(directory) / "lstm.keras")
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        entry = next(
            layer for layer in config["config"]["layers"] if layer["config"]["name"] == "lstm_0"
        )
        # as where fincast>LSTM is not registered: load_model prefers registered classes
        registered = keras.saving.get_custom_objects()
        fused_class = registered.pop("fincast>LSTM")
        try:
            plain = keras.saving.load_model(
                path, custom_objects={"fincast>LSTM": keras.layers.LSTM}, compile=False
            )
        finally:
            registered["fincast>LSTM"] = fused_class
        plain_path = save_model(_plain_copy(model), Path(directory) / "plain.keras")
        weight_datasets = [_h5_datasets(file) for file in (path, plain_path)]
    plain_layer = plain.get_layer("lstm_0")
    fused_layer = model.get_layer("lstm_0")
    keras_config = keras.layers.LSTM.from_config(entry["config"]).get_config()
    return {
        "max_abs_diff": _gap(plain.predict(inputs, verbose=0), model.predict(inputs, verbose=0)),
        "weights_file_equal": weight_datasets[0] == weight_datasets[1],
        "registered_name": entry["registered_name"],
        "loaded_class": f"{type(plain_layer).__module__}.{type(plain_layer).__name__}",
        "config_equal": _without_ids(keras_config) == _without_ids(entry["config"]),
        "weight_shapes": [list(w.shape) for w in fused_layer.weights],
        "keras_weight_shapes": [list(w.shape) for w in plain_layer.weights],
        "weight_paths_equal": [w.path for w in fused_layer.weights]
        == [w.path for w in plain_layer.weights],
    }


def _shard_counts(spy: Any) -> list[int]:
    """The shard counts a ``mock.patch.object(..., "sharded", wraps=...)`` spy saw."""
    return sorted({call.args[1] for call in spy.call_args_list})


def _train_per_shard_setting(
    settings: tuple[str, ...],
    windows: int,
    lookback: int,
    *,
    units: int,
    seed: int,
    validation_from: int | None = None,
    **fit: Any,
) -> dict[str, dict[str, Any]]:
    """One LSTM trained on ``windows`` random windows from ``seed`` under each
    ``FINCAST_TORCH_LSTM_SHARDS`` setting: its initial and trained weights, the shard
    counts the kernel ran in and the training result's."""
    from fincast.fitting.fit import set_seed, train_model
    from fincast.models import lstm_shards_fastpath as shards  # imports torch
    from fincast.models.builders import build_lstm, fit_scaling

    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(windows, lookback, FEATURES)).astype("float32")
    targets = (0.5 * inputs[:, -HORIZON:, 0] + 0.1).astype("float32")

    split = len(inputs) if validation_from is None else validation_from
    validation = None if validation_from is None else (inputs[split:], targets[split:])
    runs = {}
    for setting in settings:
        with (
            mock.patch.dict(os.environ, {"FINCAST_TORCH_LSTM_SHARDS": setting}),
            mock.patch.object(shards, "sharded", wraps=shards.sharded) as spy,
        ):
            set_seed(seed)
            model = build_lstm(
                lookback=inputs.shape[1], num_features=inputs.shape[2], horizon=HORIZON,
                scaling=fit_scaling(inputs, targets), units=units,
            )  # fmt: skip
            initial = model.get_weights()
            result = train_model(
                model, (inputs[:split], targets[:split]), validation, verbose=0, **fit
            )
        runs[setting] = {
            "initial": initial,
            "weights": model.get_weights(),
            "shard_counts": _shard_counts(spy),
            "lstm_shards": result.lstm_shards,
        }
    return runs


def _largest_weight_gap(first: list[Any], second: list[Any]) -> float:
    return max(_gap(a, b) for a, b in zip(first, second, strict=True))


@check
def sharded_training_matches_one_kernel() -> dict[str, Any]:
    """train_model with the LSTM batches in 2 shards ends at one kernel call's weights."""
    if BACKEND != "torch":
        return {"skipped": TORCH_ONLY}
    runs = _train_per_shard_setting(
        ("1", "2"), 192, LOOKBACK, units=8, seed=4, validation_from=128, epochs=3,
        batch_size=64,
    )  # fmt: skip
    return {
        "max_abs_diff": _largest_weight_gap(runs["1"]["weights"], runs["2"]["weights"]),
        "shard_counts": {setting: run["shard_counts"] for setting, run in runs.items()},
        "training_moved": _largest_weight_gap(runs["2"]["initial"], runs["2"]["weights"]),
    }


@check
def sharded_memory_pieces_train_like_one_kernel() -> dict[str, Any]:
    """Lookback 120 and 128 units, batches of 128: over 31 MiB of kernel memory a batch, so
    auto runs each in 4 pieces of 32, on any thread count, and ends at one call's weights."""
    if BACKEND != "torch":
        return {"skipped": TORCH_ONLY}
    runs = _train_per_shard_setting(
        ("1", "auto"), 256, 120, units=128, seed=5, epochs=1, batch_size=128, patience=0
    )
    return {
        "max_abs_diff": _largest_weight_gap(runs["1"]["weights"], runs["auto"]["weights"]),
        "shard_counts": {setting: run["shard_counts"] for setting, run in runs.items()},
        "lstm_shards": {setting: run["lstm_shards"] for setting, run in runs.items()},
    }


@check
def sharded_serving_matches_model_predict() -> dict[str, Any]:
    """compile_predict on 96 windows (a torch.jit trace) with shards allowed: new inputs too."""
    from fincast.serving.fast_predict import compile_predict

    if BACKEND != "torch":
        return {"skipped": TORCH_ONLY}
    from fincast.models import lstm_shards_fastpath as shards  # imports torch

    model, _ = _model("lstm")
    rng = np.random.default_rng(22)
    first, second = (rng.normal(size=(96, LOOKBACK, FEATURES)).astype("float32") for _ in range(2))
    with (
        mock.patch.dict(os.environ, {"FINCAST_TORCH_LSTM_SHARDS": "2"}),
        mock.patch.object(shards, "sharded", wraps=shards.sharded) as spy,
    ):
        predict = compile_predict(model, check=False)
        gaps = [_gap(predict(x), model.predict(x, verbose=0)) for x in (first, second)]
    return {"max_abs_diff": max(gaps), "shard_counts": _shard_counts(spy)}


@check
def symbolic_build_skips_the_kernel() -> dict[str, Any]:
    """Keras' shape pass (meta tensors) gets FusedLSTM's shapes without the LSTM kernel.

    Records the devices PyTorch's kernel ran on through a shape pass and a
    ``train_model`` (whose symbolic build is such a pass), and the output shapes of
    FusedLSTM and keras.layers.LSTM in the shape pass.
    """
    import keras
    from keras.src import backend as keras_backend

    from fincast.fitting.fit import train_model
    from fincast.models.builders import build_lstm, fit_scaling
    from fincast.models.fused_lstm import FusedLSTM

    if BACKEND != "torch":
        return {"skipped": "the meta-tensor shape pass is PyTorch's"}
    from fincast.models import lstm_fastpath  # imports torch

    devices: list[str] = []
    kernel = lstm_fastpath.lstm_kernel

    def recording_kernel(sequences: Any, *arguments: Any) -> Any:
        devices.append(sequences.device.type)
        return kernel(sequences, *arguments)

    shapes = {}
    with mock.patch.object(lstm_fastpath, "lstm_kernel", recording_kernel):
        for return_sequences in (True, False):
            window = keras.KerasTensor((64, LOOKBACK, FEATURES))
            fused, plain = (
                keras_backend.compute_output_spec(
                    layer(8, return_sequences=return_sequences), window
                ).shape
                for layer in (FusedLSTM, keras.layers.LSTM)
            )
            shapes[f"return_sequences={return_sequences}"] = [list(fused), list(plain)]
        inputs, targets = _data()
        model = build_lstm(
            lookback=LOOKBACK, num_features=FEATURES, horizon=HORIZON,
            scaling=fit_scaling(inputs, targets), units=8, num_layers=2,
        )  # fmt: skip
        train_model(model, (inputs, targets), epochs=1, batch_size=64, verbose=0)
    return {"kernel_devices": sorted(set(devices)), "shapes": shapes}


@check
def with_fused_lstm_keeps_outputs() -> dict[str, Any]:
    """A model with plain keras.layers.LSTM layers, swapped to FusedLSTM: same outputs."""
    from fincast.models.fused_lstm import FusedLSTM, with_fused_lstm

    if BACKEND != "torch":
        return {"skipped": TORCH_ONLY}
    model, inputs = _model("lstm_custom_layers")
    plain = _plain_copy(model)
    swapped = with_fused_lstm(plain)
    return {
        "max_abs_diff": _gap(swapped.predict(inputs, verbose=0), plain.predict(inputs, verbose=0)),
        "swapped_layers": sum(isinstance(layer, FusedLSTM) for layer in swapped.layers),
        "same_model": swapped is plain,
    }


def _h5_datasets(path: Path) -> list[tuple[str, list[int]]]:
    """Every dataset (path, shape) in a .keras file's weights file."""
    import io
    import zipfile

    import h5py

    datasets: list[tuple[str, list[int]]] = []
    with zipfile.ZipFile(path) as archive:
        weights = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(weights) as store:
        store.visititems(
            lambda name, item: (
                datasets.append((name, list(item.shape)))
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return sorted(datasets)


def _without_ids(config: Any) -> Any:
    """A layer config without serialisation's ``shared_object_id`` bookkeeping."""
    if isinstance(config, dict):
        return {k: _without_ids(v) for k, v in config.items() if k != "shared_object_id"}
    return config


def main(arguments: list[str]) -> int:
    from fincast.backend import select_backend

    select_backend(BACKEND)  # as fincast's commands do: on JAX, its CPU devices
    import keras

    if keras.backend.backend() != BACKEND:
        raise SystemExit(f"Keras runs on {keras.backend.backend()!r}, expected {BACKEND!r}")
    report: dict[str, Any] = {"backend": BACKEND, "checks": {}}
    if BACKEND == "jax":
        import jax

        report["jax_devices"] = len(jax.devices())
    started = time.perf_counter()
    for name, function in CHECKS.items():
        begun = time.perf_counter()
        try:
            result = function()
        except Exception:
            result = {"error": traceback.format_exc()}
        result["seconds"] = round(time.perf_counter() - begun, 2)
        report["checks"][name] = result
    report["total_seconds"] = round(time.perf_counter() - started, 2)
    Path(arguments[0]).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
