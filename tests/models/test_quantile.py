"""The non-crossing quantile head and the quantile scores: maths, property, serialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from layer_checks import check_layer

from fincast.models.layers import QuantileHead
from fincast.models.quantile import quantile_scores
from fincast.quantiles import median_index

QUANTILES = [0.1, 0.5, 0.9]


def test_quantile_head_layer_checks(tmp_path):
    check_layer(
        QuantileHead,
        {"horizon": 4, "quantiles": QUANTILES},
        (2, 6),
        (2, 4, 3),
        tmp_path=tmp_path,
        expected_trainable_weights=2,
    )


_HEAD = QuantileHead(horizon=3, quantiles=[0.05, 0.25, 0.5, 0.75, 0.95])
_HEAD.build((None, 4))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    inputs=arrays("float32", (5, 4), elements=st.floats(-50, 50, width=32)),
    seed=st.integers(0, 2**16),
)
def test_quantile_head_never_crosses(inputs, seed):
    rng = np.random.default_rng(seed)
    _HEAD.set_weights([rng.normal(0, 3, size=(4, 15)), rng.normal(0, 3, size=15)])
    outputs = keras.ops.convert_to_numpy(_HEAD(inputs))
    assert outputs.shape == (5, 3, 5)
    assert (np.diff(outputs, axis=-1) >= 0).all()


def test_single_quantile_is_a_plain_linear_head():
    head = QuantileHead(horizon=2, quantiles=[0.5])
    outputs = head(np.ones((1, 3), dtype="float32"))
    assert tuple(outputs.shape) == (1, 2, 1)


@pytest.mark.parametrize(
    "quantiles", [[], [0.5, 0.1], [0.1, 0.1], [0.0, 0.5], [0.5, 1.0], [-0.1, 0.5]]
)
def test_quantile_head_rejects_bad_quantiles(quantiles):
    with pytest.raises(ValueError, match=f"Received: quantiles={quantiles}".replace("[", "\\[")):
        QuantileHead(horizon=2, quantiles=quantiles)


def test_quantile_head_rejects_bad_horizon():
    with pytest.raises(ValueError, match="horizon=0"):
        QuantileHead(horizon=0, quantiles=QUANTILES)


def test_median_index_needs_the_median():
    assert median_index(QUANTILES) == 1
    with pytest.raises(ValueError, match="must include 0.5"):
        median_index([0.1, 0.9])


def test_quantile_scores_on_a_hand_case():
    actual = np.array([[0.0, 1.0]])
    forecast = np.array([[[-1.0, 0.0, 1.0], [-1.0, 0.0, 0.5]]])
    scores = quantile_scores(actual, forecast, QUANTILES)
    # errors y - q_hat: step 1 (1, 0, -1), step 2 (2, 1, 0.5)
    losses = [0.1 * 1, 0, 0.1 * 1, 0.1 * 2, 0.5 * 1, 0.9 * 0.5]
    assert scores["pinball"] == pytest.approx(np.mean(losses))
    assert scores["coverage"] == 0.5
    assert scores["coverage_target"] == pytest.approx(0.8)
