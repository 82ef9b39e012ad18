"""A shared layer check in the spirit of Keras' own ``run_layer_test``.

``check_layer`` builds a layer, calls it, checks its output shape, round-trips its
config (``get_config``/``from_config`` and ``serialize_keras_object``), saves a model
holding it to ``.keras``, loads it with ``safe_mode=True`` and compares outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np


def _numpy(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_numpy(part) for part in value]
    return keras.ops.convert_to_numpy(value)


def _assert_close(actual: Any, expected: Any, atol: float) -> None:
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected)
        for part, reference in zip(actual, expected, strict=True):
            _assert_close(part, reference, atol)
        return
    np.testing.assert_allclose(actual, expected, atol=atol)


def _shapes(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_shapes(part) for part in value]
    return tuple(value.shape)


def check_layer(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict[str, Any],
    input_shape: tuple[int, ...] | list[tuple[int, ...]],
    expected_output_shape: tuple[int, ...] | list[tuple[int, ...]],
    *,
    tmp_path: Path,
    expected_trainable_weights: int | None = None,
    atol: float = 1e-6,
    seed: int = 0,
) -> keras.layers.Layer:
    """Build, call, serialise, save and safely load ``layer_cls``; return the called layer.

    Args:
        layer_cls: the layer class under test.
        init_kwargs: constructor arguments.
        input_shape: the full input shape (batch first), or a list of them for a layer
            called on several inputs.
        expected_output_shape: the output shape, or a list for a layer with several outputs.
        tmp_path: a directory for the ``.keras`` file.
        expected_trainable_weights: how many trainable weights ``build`` must make.
        atol: tolerance for output comparisons.
        seed: seed of the random inputs.
    """
    rng = np.random.default_rng(seed)
    several = isinstance(input_shape, list)
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    arrays = [rng.normal(size=shape).astype("float32") for shape in shapes]
    inputs: Any = arrays if several else arrays[0]

    layer = layer_cls(**init_kwargs)
    outputs = _numpy(layer(inputs))
    expected = expected_output_shape
    assert _shapes(outputs) == (
        [tuple(shape) for shape in expected] if isinstance(expected, list) else tuple(expected)
    )
    if expected_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_trainable_weights

    config = layer.get_config()
    assert config == layer_cls.from_config(config).get_config()
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"fincast>{layer_cls.__name__}"
    clone = keras.saving.deserialize_keras_object(serialized)
    assert clone.get_config() == config
    clone(inputs)
    clone.set_weights(layer.get_weights())
    _assert_close(_numpy(clone(inputs)), outputs, atol)

    symbolic = [keras.Input(shape=shape[1:]) for shape in shapes]
    model_layer = layer_cls(**init_kwargs)
    model = keras.Model(symbolic, model_layer(symbolic if several else symbolic[0]))
    model_layer.set_weights(layer.get_weights())
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    _assert_close(_numpy(loaded(arrays)), outputs, atol)
    return layer
