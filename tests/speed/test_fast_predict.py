"""FastPredict's safety net, on the test session's backend: a wrong or broken fast path
is never served. (Each backend's real fast path is checked in ``test_fast_paths.py``.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fincast.serving import fast_predict
from fincast.serving.forecast import Forecaster


@pytest.fixture(scope="module")
def model() -> keras.Model:
    inputs = keras.Input((4, 2))
    hidden = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


@pytest.fixture
def window() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")


def _reference(model: keras.Model, window: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_on_batch(window))


def test_the_compiled_path_serves_and_is_checked_once_per_shape(model, window, monkeypatch):
    predict = fast_predict.compile_predict(model)
    calls = []
    reference = predict._reference
    monkeypatch.setattr(predict, "_reference", lambda batch: calls.append(1) or reference(batch))
    for batch in (window, window, window[:1]):
        np.testing.assert_allclose(predict(batch), _reference(model, batch), atol=1e-6)
    assert predict.compiled and predict.reason is None
    assert len(calls) == 2, "each new shape is checked once, then served unchecked"


def test_a_fast_path_that_disagrees_is_dropped_with_a_warning(model, window, monkeypatch):
    monkeypatch.setattr(
        fast_predict, "_backend_predict", lambda m, b: lambda w: _reference(m, w) + 1e-3
    )
    predict = fast_predict.compile_predict(model)
    with pytest.warns(RuntimeWarning, match=r"differs by 0\.001"):
        served = predict(window)
    np.testing.assert_array_equal(served, _reference(model, window))
    assert not predict.compiled and "differs" in str(predict.reason)
    np.testing.assert_array_equal(predict(window), _reference(model, window))


def test_a_fast_path_that_fails_to_compile_falls_back(model, window, monkeypatch):
    def broken(model, backend):
        raise RuntimeError("no XLA today")

    monkeypatch.setattr(fast_predict, "_backend_predict", broken)
    with pytest.warns(RuntimeWarning, match="failed to compile"):
        predict = fast_predict.compile_predict(model)
    np.testing.assert_array_equal(predict(window), _reference(model, window))
    assert "no XLA today" in str(predict.reason)


def test_a_fast_path_that_fails_on_a_batch_falls_back(model, window, monkeypatch):
    def failing(batch):
        raise ValueError("shape trouble")

    monkeypatch.setattr(fast_predict, "_backend_predict", lambda m, b: failing)
    predict = fast_predict.compile_predict(model)
    with pytest.warns(RuntimeWarning, match="shape trouble"):
        np.testing.assert_array_equal(predict(window), _reference(model, window))


def test_models_with_several_outputs_use_predict_on_batch(window):
    inputs = keras.Input((4, 2))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(1)(flat), keras.layers.Dense(2)(flat)])
    predict = fast_predict.compile_predict(model)
    assert not predict.compiled and "several" in str(predict.reason)


def test_forecaster_compiles_once_and_keeps_the_predictor(model, window):
    forecaster = Forecaster(model=model, card={"lookback": 4, "horizon": 3}, uri="memory")
    first = forecaster.predict_window(window.astype("float64"))
    predictor = forecaster._predict
    np.testing.assert_allclose(first, _reference(model, window), atol=1e-6)
    forecaster.predict_window(window)
    assert forecaster._predict is predictor and predictor.compiled
    assert "_predict" not in repr(forecaster)
