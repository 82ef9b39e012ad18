"""Builders: every model family's shapes, normalisation inside, options, errors, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fincast.models.builders import BUILDERS, build_cnn, build_lstm, build_mlp, fit_scaling

LOOKBACK, FEATURES, HORIZON = 12, 3, 4
QUANTILES = [0.1, 0.5, 0.9]
SMALL = {
    "mlp": {"units": [8]},
    "lstm": {"units": 4},
    "cnn": {"filters": [4], "dense_units": 8},
    "t2v_attention": {"time2vec_dim": 3, "units": 4, "attention_units": 3},
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    inputs = rng.normal(5.0, 2.0, size=(64, LOOKBACK, FEATURES)).astype("float32")
    targets = rng.normal(0.01, 0.02, size=(64, HORIZON)).astype("float32")
    return inputs, targets


def _build(name, data, **options):
    return BUILDERS[name](
        lookback=LOOKBACK,
        num_features=FEATURES,
        horizon=HORIZON,
        scaling=fit_scaling(*data),
        **{**SMALL[name], **options},
    )


def test_registry_names_every_config_group_file():
    from fincast.paths import config_dir

    assert set(BUILDERS) == {path.stem for path in (config_dir() / "model").glob("*.yaml")}


def test_fit_scaling_uses_the_given_slice_only(data):
    inputs, targets = data
    scaling = fit_scaling(inputs, targets, target_feature=2)
    np.testing.assert_allclose(
        scaling.input_mean, inputs.reshape(-1, FEATURES).mean(axis=0), rtol=1e-5
    )
    np.testing.assert_allclose(scaling.target_scale, targets.std(axis=0), rtol=1e-5)
    assert scaling.target_feature == 2
    constant = fit_scaling(np.ones_like(inputs), np.zeros_like(targets))
    assert min(constant.input_variance) > 0 and min(constant.target_scale) > 0
    with pytest.raises(ValueError, match="target_feature=3"):
        fit_scaling(inputs, targets, target_feature=3)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_builder_outputs_real_units_point_and_quantile(name, data, tmp_path):
    inputs, _ = data
    point = _build(name, data)
    assert point.input_shape == (None, LOOKBACK, FEATURES)
    assert point.output_shape == (None, HORIZON)
    # The model's first layer normalises the raw inputs with the training statistics.
    flat = keras.ops.convert_to_numpy(point.get_layer("normalise")(inputs)).reshape(-1, FEATURES)
    np.testing.assert_allclose(flat.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(flat.std(axis=0), 1.0, atol=1e-3)
    quantile = _build(name, data, quantiles=QUANTILES)
    assert quantile.output_shape == (None, HORIZON, 3)
    forecasts = quantile.predict_on_batch(inputs)
    assert (np.diff(forecasts, axis=-1) >= 0).all()
    for layer in ("head", "rescale"):
        assert quantile.get_layer(layer).dtype_policy.compute_dtype == "float32"
    path = tmp_path / f"{name}.keras"
    quantile.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(loaded.predict_on_batch(inputs), forecasts, atol=1e-6)


@pytest.mark.parametrize("name", ["mlp", "t2v_attention"])
def test_reversible_norm_follows_each_window_level(name, data):
    inputs, targets = data
    model = _build(name, data, reversible_norm=True)
    assert {"revin", "denorm"} <= {layer.name for layer in model.layers}
    # Shifting a window's target feature shifts the forecast by the same amount
    # (in units of the training-slice scales), whatever the weights.
    scaling = fit_scaling(inputs, targets)
    shift = np.zeros((1, 1, FEATURES), "float32")
    shift[..., 0] = 3.0 * np.sqrt(scaling.input_variance[0])
    moved = model.predict_on_batch(inputs[:4] + shift) - model.predict_on_batch(inputs[:4])
    expected = 3.0 * np.asarray(scaling.target_scale)
    np.testing.assert_allclose(moved, np.broadcast_to(expected, moved.shape), rtol=1e-3)


def test_lstm_attention_pooling_and_stacking(data):
    model = _build("lstm", data, num_layers=2, pooling="attention")
    names = [layer.name for layer in model.layers]
    assert [n for n in names if "lstm" in n or "att" in n] == ["lstm_0", "lstm_1", "attention"]
    assert model.get_layer("lstm_1").return_sequences


def test_cnn_pools_short_windows_without_vanishing(data):
    model = _build("cnn", data, filters=[2, 2, 2, 2, 2], pool_size=3)
    assert model.get_layer("pool_4").output.shape[1] == 1


@pytest.mark.parametrize(
    ("builder", "options", "message"),
    [
        (build_lstm, {"units": 0}, "units=0"),
        (build_lstm, {"dropout": 1.5}, "dropout=1.5"),
        (build_lstm, {"pooling": "max"}, "pooling='max'"),
        (build_mlp, {"units": []}, "units=\\[\\]"),
        (build_cnn, {"filters": [4, 0]}, "filters=\\[4, 0\\]"),
        (build_cnn, {"kernel_size": 0}, "kernel_size=0"),
        (build_mlp, {"quantiles": [0.9, 0.1]}, "quantiles=\\[0.9, 0.1\\]"),
    ],
)
def test_builders_reject_bad_arguments(builder, options, message, data):
    with pytest.raises(ValueError, match=message):
        builder(
            lookback=LOOKBACK,
            num_features=FEATURES,
            horizon=HORIZON,
            scaling=fit_scaling(*data),
            **options,
        )


def test_t2v_attention_rejects_small_embedding(data):
    with pytest.raises(ValueError, match="output_dim=1"):
        _build("t2v_attention", data, time2vec_dim=1)
