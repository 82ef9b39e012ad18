"""Forecast metrics and baselines, checked against scikit-learn and by hand."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

from fincast import quantiles
from fincast.evaluation import (
    baselines,
    losses,
    metrics,
    stats,
    targets,
    tasks,
    trading,
    volatility,
)
from fincast.evaluation.baselines import historical_mean_returns, naive_returns
from fincast.evaluation.metrics import hit_rate, mae, rmse


@pytest.mark.parametrize(
    "module",
    [metrics, baselines, stats, targets, trading, volatility, losses, tasks, quantiles],
    ids=lambda module: module.__name__,
)
def test_doctests_pass(module) -> None:
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0, f"{module.__name__} has no doctests"
    assert result.failed == 0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(7,), (50, 1), (40, 5), (3, 20)])
def test_mae_and_rmse_match_sklearn(seed: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    actual = rng.normal(0, 0.02, shape).astype("float32")
    forecast = rng.normal(0, 0.01, shape).astype("float32")
    flat_actual, flat_forecast = actual.ravel(), forecast.ravel()
    assert mae(actual, forecast) == pytest.approx(
        mean_absolute_error(flat_actual.astype("float64"), flat_forecast.astype("float64")),
        rel=1e-12,
    )
    assert rmse(actual, forecast) == pytest.approx(
        math.sqrt(
            mean_squared_error(flat_actual.astype("float64"), flat_forecast.astype("float64"))
        ),
        rel=1e-12,
    )


def test_metrics_return_python_floats_and_accept_lists() -> None:
    assert isinstance(mae([[1.0, 2.0]], [[1.5, 2.0]]), float)
    assert isinstance(rmse(np.ones((2, 2)), np.zeros((2, 2))), float)
    assert mae([[1.0, 2.0]], [[1.5, 2.0]]) == 0.25
    assert rmse(np.ones((2, 2)), np.zeros((2, 2))) == 1.0


def test_perfect_forecast_scores_zero() -> None:
    actual = np.random.default_rng(1).normal(size=(10, 3))
    assert mae(actual, actual) == 0.0
    assert rmse(actual, actual) == 0.0


def test_rmse_at_least_mae() -> None:
    rng = np.random.default_rng(2)
    actual, forecast = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    assert rmse(actual, forecast) >= mae(actual, forecast)


def test_float32_inputs_are_scored_in_float64() -> None:
    actual = np.full((1000, 1), 0.1, dtype="float32")
    forecast = np.zeros((1000, 1), dtype="float32")
    assert mae(actual, forecast) == pytest.approx(float(np.float32(0.1)), rel=1e-12)


@pytest.mark.parametrize(
    ("actual", "forecast", "expected"),
    [
        ([1.0, -1.0, 2.0, -2.0], [0.5, -0.5, 1.0, -3.0], 1.0),
        ([1.0, -1.0, 2.0, -2.0], [-0.5, 0.5, -1.0, 3.0], 0.0),
        ([1.0, -1.0, 2.0, -2.0], [0.5, 0.5, 0.5, 0.5], 0.5),
        ([1.0, -1.0, 2.0], [0.5, 0.5, 0.0], 0.5),  # zero forecasts are not calls
        ([0.0, 0.0, 1.0, -1.0], [0.1, -0.1, 0.1, 0.1], 0.25),  # a flat actual is a miss
        ([[1.0, -1.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 0.0]], 2 / 3),  # 2-D is flattened
    ],
)
def test_hit_rate_hand_cases(actual, forecast, expected: float) -> None:
    assert hit_rate(np.array(actual), np.array(forecast)) == pytest.approx(expected)


def test_hit_rate_is_nan_without_any_call() -> None:
    assert math.isnan(hit_rate(np.array([1.0, -1.0]), np.zeros(2)))
    assert math.isnan(hit_rate(np.zeros((0, 3)), np.zeros((0, 3))))


def test_naive_returns() -> None:
    inputs = np.random.default_rng(0).normal(size=(4, 10, 3))
    forecast = naive_returns(inputs, horizon=5)
    assert forecast.shape == (4, 5)
    assert forecast.dtype == np.float32
    assert not forecast.any()


def test_historical_mean_returns() -> None:
    forecast = historical_mean_returns(np.zeros((3, 10, 1)), horizon=2, train_mean=0.0004)
    assert forecast.shape == (3, 2)
    assert forecast.dtype == np.float32
    np.testing.assert_array_equal(forecast, np.float32(0.0004))


def test_baselines_of_no_windows() -> None:
    assert naive_returns(np.zeros((0, 5, 1)), horizon=3).shape == (0, 3)
    assert historical_mean_returns(np.zeros((0, 5, 1)), horizon=3, train_mean=1.0).shape == (0, 3)
