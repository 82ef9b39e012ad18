"""Pinball and QLIKE losses: maths against references, serialisation, use in training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fincast.models.losses import PinballLoss, QLikeLoss

QUANTILES = [0.1, 0.5, 0.9]


def _pinball_reference(actual, forecast, quantiles):
    total, count = 0.0, 0
    for index in np.ndindex(actual.shape):
        for column, level in enumerate(quantiles):
            error = actual[index] - forecast[index][column]
            total += level * error if error >= 0 else (level - 1) * error
            count += 1
    return total / count


def test_pinball_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=(8, 3)).astype("float32")
    forecast = np.sort(rng.normal(size=(8, 3, 3)), axis=-1).astype("float32")
    loss = float(PinballLoss(QUANTILES)(actual, forecast))
    assert loss == pytest.approx(_pinball_reference(actual, forecast, QUANTILES), rel=1e-5)


def test_pinball_of_the_median_is_half_the_mae():
    actual = np.array([[1.0, -2.0]], dtype="float32")
    forecast = np.array([[[0.0], [0.0]]], dtype="float32")
    assert float(PinballLoss([0.5])(actual, forecast)) == pytest.approx(0.75)


def test_qlike_matches_the_formula_and_is_zero_at_the_truth():
    actual = np.array([[1.0, 4.0, 0.5]], dtype="float32")
    forecast = np.array([[2.0, 4.0, 0.25]], dtype="float32")
    ratio = actual / forecast
    expected = float(np.mean(ratio - np.log(ratio) - 1))
    assert float(QLikeLoss()(actual, forecast)) == pytest.approx(expected, rel=1e-5)
    assert float(QLikeLoss()(actual, actual)) == pytest.approx(0.0, abs=1e-7)
    # under-prediction costs more than over-prediction by the same factor
    under = float(QLikeLoss()(np.array([[2.0]]), np.array([[1.0]])))
    over = float(QLikeLoss()(np.array([[2.0]]), np.array([[4.0]])))
    assert under > over


def test_qlike_stays_finite_for_zero_proxies_and_forecasts():
    value = float(QLikeLoss()(np.zeros((1, 2), "float32"), np.zeros((1, 2), "float32")))
    assert np.isfinite(value)


@pytest.mark.parametrize(
    ("loss", "name"), [(PinballLoss(QUANTILES), "PinballLoss"), (QLikeLoss(1e-9), "QLikeLoss")]
)
def test_losses_serialise_by_registered_name(loss, name):
    config = keras.saving.serialize_keras_object(loss)
    assert config["registered_name"] == f"fincast>{name}"
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() == loss.get_config()


def test_loss_errors_quote_the_value():
    with pytest.raises(ValueError, match="quantiles=\\[0.9, 0.1\\]"):
        PinballLoss([0.9, 0.1])
    with pytest.raises(ValueError, match="epsilon=-1"):
        QLikeLoss(epsilon=-1)


def test_compiled_model_with_pinball_saves_and_loads_safely(tmp_path):
    from fincast.models.layers import QuantileHead

    inputs = keras.Input((3,))
    model = keras.Model(inputs, QuantileHead(2, QUANTILES)(inputs))
    model.compile(optimizer="adam", loss=PinballLoss(QUANTILES))
    x = np.ones((4, 3), "float32")
    model.fit(x, np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "q.keras")
    loaded = keras.saving.load_model(tmp_path / "q.keras", safe_mode=True)
    assert loaded.loss.get_config()["quantiles"] == QUANTILES
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)
