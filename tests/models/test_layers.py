"""Rescale and reversible instance normalisation: maths, errors, serialisation round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from layer_checks import check_layer

from fincast.models.layers import InstanceDenorm, Rescale, ReversibleInstanceNorm


def test_rescale_maps_to_real_units():
    layer = Rescale(offset=[1.0, -2.0], scale=[2.0, 0.5])
    outputs = layer(np.array([[1.0, 4.0]], dtype="float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs), [[3.0, 0.0]])


def test_rescale_along_the_horizon_axis_of_quantile_outputs():
    layer = Rescale(offset=[1.0, -2.0], scale=[2.0, 0.5], axis=1)
    outputs = layer(np.ones((1, 2, 3), dtype="float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs)[0], [[3.0] * 3, [-1.5] * 3])


@pytest.mark.parametrize(
    ("kwargs", "shape", "expected"), [({}, (3, 2), (3, 2)), ({"axis": 1}, (3, 2, 4), (3, 2, 4))]
)
def test_rescale_layer_checks(kwargs, shape, expected, tmp_path):
    layer = check_layer(
        Rescale,
        {"offset": [0.5, 1.0], "scale": [3.0, 2.0], **kwargs},
        shape,
        expected,
        tmp_path=tmp_path,
        expected_trainable_weights=0,
    )
    assert len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"offset": [0.0], "scale": [0.0]}, "scale=\\[0.0\\]"),
        ({"offset": [0.0, 1.0], "scale": [1.0]}, "Received: offset"),
        ({"offset": [], "scale": []}, "non-empty"),
        ({"offset": [0.0], "scale": [1.0], "axis": 0}, "axis=0"),
    ],
)
def test_rescale_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rescale(**kwargs)


def test_rescale_rejects_wrong_width():
    with pytest.raises(ValueError, match="holds 2 values but its input has 3"):
        Rescale(offset=[0.0, 0.0], scale=[1.0, 1.0])(np.zeros((1, 3), dtype="float32"))


def test_rescale_config_round_trip_keeps_old_configs_loading():
    config = Rescale(offset=[0.5], scale=[3.0], name="r").get_config()
    del config["axis"]  # a model saved before the axis option existed
    assert Rescale.from_config(config).axis == -1


def test_revin_layer_checks(tmp_path):
    check_layer(
        ReversibleInstanceNorm,
        {"epsilon": 1e-6},
        (4, 10, 3),
        [(4, 10, 3), (4, 2, 3)],
        tmp_path=tmp_path,
        expected_trainable_weights=2,
    )


def test_revin_without_affine_has_no_weights_and_standardises_each_window():
    rng = np.random.default_rng(1)
    windows = rng.normal(5.0, 3.0, size=(6, 20, 2)).astype("float32")
    layer = ReversibleInstanceNorm(affine=False)
    normalised, stats = (keras.ops.convert_to_numpy(part) for part in layer(windows))
    assert not layer.weights
    np.testing.assert_allclose(normalised.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalised.std(axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(stats[:, 0], windows.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(stats[:, 1], windows.std(axis=1), rtol=1e-3)


@pytest.mark.parametrize("feature", [0, 2])
def test_revin_then_denorm_restores_the_input(feature):
    rng = np.random.default_rng(2)
    windows = rng.normal(0.01, 0.5, size=(5, 12, 3)).astype("float32")
    norm = ReversibleInstanceNorm()
    norm.build(windows.shape)
    norm.set_weights([rng.uniform(0.5, 2.0, 3), rng.normal(size=3)])  # a learned affine map
    normalised, stats = norm(windows)
    restored = InstanceDenorm(feature_index=feature)([normalised[:, :, feature], stats])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored), windows[:, :, feature], atol=1e-5
    )


def test_denorm_layer_checks(tmp_path):
    check_layer(
        InstanceDenorm,
        {"feature_index": 1},
        [(4, 5, 3), (4, 2, 2)],
        (4, 5, 3),
        tmp_path=tmp_path,
        expected_trainable_weights=0,
    )


def test_revin_and_denorm_reject_bad_values():
    with pytest.raises(ValueError, match="epsilon=0"):
        ReversibleInstanceNorm(epsilon=0)
    with pytest.raises(ValueError, match="feature_index=-1"):
        InstanceDenorm(feature_index=-1)
    with pytest.raises(ValueError, match="feature_index=3"):
        InstanceDenorm(feature_index=3)([np.zeros((1, 2)), np.ones((1, 2, 3))])
    with pytest.raises(ValueError, match="input_shape=\\(2, 3\\)"):
        ReversibleInstanceNorm()(np.zeros((2, 3)))
