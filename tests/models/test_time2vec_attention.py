"""Time2Vec and temporal attention pooling: maths on hand cases, errors, serialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from layer_checks import check_layer

from fincast.models.layers import TemporalAttentionPooling, Time2Vec


def test_time2vec_layer_checks(tmp_path):
    check_layer(
        Time2Vec,
        {"output_dim": 4},
        (2, 6, 3),
        (2, 6, 4),
        tmp_path=tmp_path,
        expected_trainable_weights=4,
    )


def test_time2vec_is_linear_then_periodic():
    layer = Time2Vec(3)
    layer.build((None, 5, 2))
    linear_kernel = np.array([[2.0], [0.0]])
    periodic_kernel = np.array([[1.0, 0.0], [0.0, 3.0]])
    layer.set_weights([linear_kernel, np.array([0.5]), periodic_kernel, np.array([0.0, 0.1])])
    x = np.random.default_rng(0).normal(size=(1, 5, 2)).astype("float32")
    expected = np.concatenate(
        [x @ linear_kernel + 0.5, np.sin(x @ periodic_kernel + [0.0, 0.1])], axis=-1
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-6)


@pytest.mark.parametrize("output_dim", [1, 0, True])
def test_time2vec_rejects_too_small_output(output_dim):
    with pytest.raises(ValueError, match=f"Received: output_dim={output_dim}"):
        Time2Vec(output_dim)


def test_attention_layer_checks(tmp_path):
    check_layer(
        TemporalAttentionPooling,
        {"units": 5},
        (3, 7, 4),
        (3, 4),
        tmp_path=tmp_path,
        expected_trainable_weights=3,
    )


def test_attention_weights_sum_to_one_and_pool_the_steps():
    rng = np.random.default_rng(1)
    sequence = rng.normal(size=(4, 9, 3)).astype("float32")
    layer = TemporalAttentionPooling(units=6)
    weights = keras.ops.convert_to_numpy(layer.attention_weights(sequence))
    assert weights.shape == (4, 9) and (weights > 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    pooled = keras.ops.convert_to_numpy(layer(sequence))
    np.testing.assert_allclose(pooled, np.einsum("bt,btc->bc", weights, sequence), atol=1e-6)


def test_attention_over_a_constant_sequence_returns_the_constant():
    constant = np.tile(np.array([1.5, -2.0], dtype="float32"), (2, 5, 1))
    pooled = keras.ops.convert_to_numpy(TemporalAttentionPooling(units=3)(constant))
    np.testing.assert_allclose(pooled, [[1.5, -2.0]] * 2, atol=1e-6)


def test_attention_rejects_bad_values():
    with pytest.raises(ValueError, match="units=0"):
        TemporalAttentionPooling(units=0)
    with pytest.raises(ValueError, match="input_shape=\\(2, 3\\)"):
        TemporalAttentionPooling()(np.zeros((2, 3), dtype="float32"))
