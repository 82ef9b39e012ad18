"""Builders: shapes, normalisation inside the model, bad arguments, save/load equality."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fincast.models.builders import build_lstm, build_mlp, fit_scaling

LOOKBACK, FEATURES, HORIZON = 12, 3, 4


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    inputs = rng.normal(5.0, 2.0, size=(64, LOOKBACK, FEATURES)).astype("float32")
    targets = rng.normal(0.01, 0.02, size=(64, HORIZON)).astype("float32")
    return inputs, targets


def test_fit_scaling_uses_the_given_slice_only(data):
    inputs, targets = data
    scaling = fit_scaling(inputs, targets)
    np.testing.assert_allclose(
        scaling.input_mean, inputs.reshape(-1, FEATURES).mean(axis=0), rtol=1e-5
    )
    np.testing.assert_allclose(scaling.target_scale, targets.std(axis=0), rtol=1e-5)
    constant = fit_scaling(np.ones_like(inputs), np.zeros_like(targets))
    assert min(constant.input_variance) > 0 and min(constant.target_scale) > 0


@pytest.mark.parametrize("builder", [build_lstm, build_mlp])
def test_builders_output_real_units(builder, data):
    inputs, targets = data
    model = builder(
        lookback=LOOKBACK,
        num_features=FEATURES,
        horizon=HORIZON,
        scaling=fit_scaling(inputs, targets),
    )
    assert model.input_shape == (None, LOOKBACK, FEATURES)
    assert model.output_shape == (None, HORIZON)
    # The model's first layer normalises the raw inputs with the training statistics.
    normalised = model.get_layer("normalise")(inputs)
    flat = keras.ops.convert_to_numpy(normalised).reshape(-1, FEATURES)
    np.testing.assert_allclose(flat.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(flat.std(axis=0), 1.0, atol=1e-3)


def test_builders_reject_bad_arguments(data):
    scaling = fit_scaling(*data)
    with pytest.raises(ValueError, match="units=0"):
        build_lstm(
            lookback=LOOKBACK, num_features=FEATURES, horizon=HORIZON, scaling=scaling, units=0
        )
    with pytest.raises(ValueError, match="dropout=1.5"):
        build_lstm(
            lookback=LOOKBACK, num_features=FEATURES, horizon=HORIZON, scaling=scaling, dropout=1.5
        )
    with pytest.raises(ValueError, match="units=\\[\\]"):
        build_mlp(
            lookback=LOOKBACK, num_features=FEATURES, horizon=HORIZON, scaling=scaling, units=[]
        )


def test_stacked_lstm_has_each_layer(data):
    model = build_lstm(
        lookback=LOOKBACK,
        num_features=FEATURES,
        horizon=HORIZON,
        scaling=fit_scaling(*data),
        num_layers=3,
        units=8,
    )
    assert [layer.name for layer in model.layers if "lstm" in layer.name] == [
        "lstm_0",
        "lstm_1",
        "lstm_2",
    ]


@pytest.mark.parametrize("builder", [build_lstm, build_mlp])
def test_saved_model_gives_the_same_forecasts(builder, data, tmp_path):
    inputs, targets = data
    model = builder(
        lookback=LOOKBACK,
        num_features=FEATURES,
        horizon=HORIZON,
        scaling=fit_scaling(inputs, targets),
    )
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(
        loaded.predict_on_batch(inputs), model.predict_on_batch(inputs), atol=1e-6
    )
