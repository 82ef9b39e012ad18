"""fincast's custom layers: maths, errors quoting the bad value, serialisation round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fincast.models.layers import Rescale


def test_rescale_maps_to_real_units():
    layer = Rescale(offset=[1.0, -2.0], scale=[2.0, 0.5])
    outputs = layer(np.array([[1.0, 4.0]], dtype="float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), [[3.0, 0.0]])


def test_rescale_weights_are_not_trainable():
    layer = Rescale(offset=[0.0], scale=[1.0])
    layer.build((None, 1))
    assert not layer.trainable_weights
    assert len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize(
    ("offset", "scale", "message"),
    [
        ([0.0], [0.0], "scale=\\[0.0\\]"),
        ([0.0, 1.0], [1.0], "Received: offset"),
        ([], [], "non-empty"),
    ],
)
def test_rescale_rejects_bad_values(offset, scale, message):
    with pytest.raises(ValueError, match=message):
        Rescale(offset=offset, scale=scale)


def test_rescale_rejects_wrong_width():
    with pytest.raises(ValueError, match="holds 2 values but its input has 3"):
        Rescale(offset=[0.0, 0.0], scale=[1.0, 1.0])(np.zeros((1, 3), dtype="float32"))


def test_rescale_config_round_trip():
    layer = Rescale(offset=[0.5], scale=[3.0], name="r")
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == "fincast>Rescale"
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() == layer.get_config()
    x = np.array([[2.0]], dtype="float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(layer(x))
    )


def test_rescale_survives_save_and_safe_load(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, Rescale([1.0, 2.0], [3.0, 4.0])(inputs))
    path = tmp_path / "rescale.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.array([[1.0, 1.0]], dtype="float32")
    np.testing.assert_allclose(loaded.predict_on_batch(x), [[4.0, 6.0]])
