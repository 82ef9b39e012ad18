"""ONNX export and serving: every family forecasts as its Keras model does, served by
onnxruntime with no Keras imported; a layer that cannot be exported is named in one line.

The exports run in a TensorFlow subprocess (tf2onnx); the Keras side of each parity
check runs here, on the test process's backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from fincast.models.builders import BUILDERS, fit_scaling
from fincast.serving.onnx_export import default_output

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

LOOKBACK, FEATURES, HORIZON = 10, 3, 2
TOLERANCE = 1e-5
# tiny models of every family, fincast's custom layers included
MODELS = {
    "mlp": ("mlp", {"units": [8]}),
    "lstm": ("lstm", {"units": 4}),
    "cnn": ("cnn", {"filters": [4], "dense_units": 4}),
    "t2v_attention": ("t2v_attention", {"time2vec_dim": 4, "units": 4, "attention_units": 4}),
    "lstm_attention_quantiles": (
        "lstm",
        {"units": 4, "pooling": "attention", "quantiles": [0.1, 0.5, 0.9]},
    ),
    "mlp_revin": ("mlp", {"units": [8], "reversible_norm": True}),
    "cnn_global": ("cnn", {"filters": [4], "dense_units": 4}),
}
CARD = {"features": ["a", "b", "ticker_id"], "lookback": LOOKBACK, "horizon": HORIZON}
EXPORT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    from keras import ops
    from fincast.serving.onnx_export import OnnxExportError, export_model, export_onnx

    results = {}
    for path in sys.argv[1:]:
        results[path] = export_model(path).max_difference

    class Eigen(keras.layers.Layer):  # SVD: an op tf2onnx cannot convert
        def call(self, inputs):
            return ops.svd(inputs, compute_uv=False)

    window = keras.Input((4, 4))
    hidden = Eigen(name="eigen")(keras.layers.Dense(4, name="project")(window))
    model = keras.Model(window, keras.layers.Dense(2)(keras.layers.Flatten()(hidden)))
    try:
        export_onnx(model, sys.argv[1] + ".bad.onnx")
    except OnnxExportError as error:
        results["refused"] = str(error)
    print(json.dumps(results))
    """
)


def _windows(count: int, seed: int, global_model: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    windows = rng.normal(size=(count, LOOKBACK, FEATURES))
    if global_model:  # a ticker id, constant over each window (0: unknown)
        windows[:, :, 2] = rng.integers(0, 5, size=(count, 1))
    return windows.astype("float32")


def _model(family: str, options: dict, global_model: bool):
    windows = _windows(64, seed=1, global_model=global_model)
    targets = np.random.default_rng(2).normal(size=(64, HORIZON)).astype("float32")
    if not global_model:
        return BUILDERS[family](
            lookback=LOOKBACK,
            num_features=FEATURES,
            horizon=HORIZON,
            scaling=fit_scaling(windows, targets),
            **options,
        )
    # a global model: ticker ids embedded, each ticker's own statistics (ids 1..3; 0 unknown)
    pooled = fit_scaling(windows, targets, identity_sizes={2: 4}, embedding_dim=2)
    rows = np.arange(1.0, 5.0)[:, None]
    scaling = replace(
        pooled,
        ticker_column=2,
        ticker_input_mean=(np.asarray(pooled.input_mean) * rows).tolist(),
        ticker_input_variance=(np.asarray(pooled.input_variance) * rows).tolist(),
        ticker_target_mean=(np.asarray(pooled.target_mean) + rows).tolist(),
        ticker_target_scale=(np.asarray(pooled.target_scale) * rows).tolist(),
    )
    return BUILDERS[family](
        lookback=LOOKBACK, num_features=FEATURES, horizon=HORIZON, scaling=scaling, **options
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each tiny model saved as .keras (card beside it) and exported in one TF subprocess."""
    import keras

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("onnx")
    models = {}
    for name, (family, options) in MODELS.items():
        model = _model(family, options, global_model=name.endswith("_global"))
        path = folder / f"{name}.keras"
        model.save(path)
        path.with_suffix(".json").write_text(json.dumps({**CARD, "model": family, "tickers": []}))
        models[name] = (model, path)
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    paths = [str(path) for _, path in models.values()]
    done = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT, *paths],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return models, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_forecasts_equal_the_keras_model(exported, name):
    from fincast.serving.forecast import load_forecaster

    models, results = exported
    model, path = models[name]
    assert results[str(path)] <= TOLERANCE  # checked by the export itself, on TensorFlow
    forecaster = load_forecaster(str(default_output(path)))
    assert forecaster.card["format"] == "onnx"
    assert forecaster.card["exported_from"] == str(path)
    for count in (1, 7):
        windows = _windows(count, seed=3)
        expected = model.predict(windows, verbose=0)
        got = forecaster.predict_window(windows)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=TOLERANCE)


@pytest.mark.slow
def test_an_unexportable_layer_is_named_in_one_line(exported):
    _, results = exported
    message = results["refused"]
    assert "\n" not in message
    assert message == (
        "layer 'eigen' (Eigen) cannot be exported to ONNX: "
        "tf2onnx has no ONNX conversion for TensorFlow op Svd"
    )


@pytest.mark.slow
def test_an_onnx_model_is_served_with_no_keras_imported(exported):
    models, _ = exported
    onnx_path = default_output(models["lstm"][1])
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from fincast.serving.forecast import load_forecaster
        forecaster = load_forecaster({str(onnx_path)!r})
        forecasts = forecaster.predict_window(np.zeros((2, {LOOKBACK}, {FEATURES}), "float32"))
        assert forecasts.shape == (2, {HORIZON}), forecasts.shape
        loaded = sorted(name for name in ("keras", "tensorflow", "jax", "torch")
                        if name in sys.modules)
        print(forecaster.runtime, loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["onnxruntime", "[]"]


def test_a_missing_onnx_file_is_a_clear_error(tmp_path):
    from fincast.serving.forecast import load_forecaster

    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_forecaster(str(tmp_path / "absent.onnx"))


def test_a_garbage_onnx_file_is_a_clear_error(tmp_path):
    from fincast.serving.forecast import load_forecaster

    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"Cannot load the ONNX model at .*export it again"):
        load_forecaster(str(path))


@pytest.mark.slow
def test_an_onnx_file_without_its_card_is_a_clear_error(exported, tmp_path):
    from fincast.serving.forecast import load_forecaster

    models, _ = exported
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(default_output(models["mlp"][1]).read_bytes())
    with pytest.raises(ValueError, match="no fincast card entry 'features'"):
        load_forecaster(str(lonely))


def test_export_refuses_another_backend(tmp_path):
    import keras

    from fincast.serving.onnx_export import OnnxExportError, export_onnx

    if keras.backend.backend() == "tensorflow":
        pytest.skip("the export's own backend")
    model = _model("mlp", {"units": [2]}, global_model=False)
    with pytest.raises(OnnxExportError, match="runs on the TensorFlow backend"):
        export_onnx(model, tmp_path / "never.onnx")
    assert not (tmp_path / "never.onnx").exists()


def test_export_output_must_be_an_onnx_path():
    from fincast.serving.onnx_export import export_model

    with pytest.raises(ValueError, match="output must be a path ending in .onnx"):
        export_model("models/x.keras", "models/x.keras")
    with pytest.raises(ValueError, match="output must be set"):
        export_model("models:/fincast-returns-lstm@champion")


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_exports_and_forecasts_from_the_onnx_file(tiny_outcome, tmp_path):
    from fincast_cli import run_cli

    _, outcome = tiny_outcome
    source = tmp_path / "model.keras"
    source.write_bytes(outcome.model_path.read_bytes())
    source.with_suffix(".json").write_text(json.dumps(outcome.card))
    keras_card = source.with_suffix(".json").read_text()
    exported = run_cli("fincast-export", f"model_uri={source}", "format=onnx", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "forecasts equal the Keras model's within" in exported.stdout
    assert source.with_suffix(".json").read_text() == keras_card  # never overwritten
    beside = run_cli(
        "fincast-export", f"model_uri={source}", f"output={tmp_path / 'model.onnx'}", cwd=tmp_path
    )
    assert beside.returncode == 2 and "would write its card over model.keras's" in beside.stderr
    payloads = {}
    for path in (source, default_output(source)):
        model_uri = f"model_uri={path}"
        done = run_cli("fincast-forecast", model_uri, "output=json", "backend=jax", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        payloads[path.suffix] = json.loads(done.stdout)
    assert payloads[".onnx"]["backend"] == "onnxruntime"
    np.testing.assert_allclose(
        [step["value"] for step in payloads[".onnx"]["forecast"]],
        [step["value"] for step in payloads[".keras"]["forecast"]],
        atol=TOLERANCE,
    )
    # the card's calibrated interval travels with the ONNX file and is served the same
    assert payloads[".onnx"]["interval"] == payloads[".keras"]["interval"]
    for bound in ("lower", "upper"):
        np.testing.assert_allclose(
            [step[bound] for step in payloads[".onnx"]["forecast"]],
            [step[bound] for step in payloads[".keras"]["forecast"]],
            atol=TOLERANCE,
        )


@pytest.mark.e2e
def test_cli_refuses_an_unknown_format_in_one_line(tmp_path):
    from fincast_cli import run_cli

    done = run_cli("fincast-export", "model_uri=x.keras", "format=tflite", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "fincast-export: error: format must be one of onnx. Received: format='tflite'"
    )
