"""score_forecasts: every forecaster scored on the same held-out targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fincast.evaluation.baselines import historical_mean_returns, naive_returns
from fincast.evaluation.holdout import score_forecasts
from fincast.evaluation.metrics import hit_rate, mae, rmse


@pytest.fixture
def actual() -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 0.01, (40, 3)).astype("float32")


def test_scores_every_forecaster(actual: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    inputs = np.zeros((len(actual), 8, 1), dtype="float32")
    forecasts = {
        "model": (actual + rng.normal(0, 0.002, actual.shape)).astype("float32"),
        "naive": naive_returns(inputs, horizon=3),
        "historical_mean": historical_mean_returns(inputs, horizon=3, train_mean=0.001),
    }
    table = score_forecasts(actual, forecasts)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["model", "naive", "historical_mean"]
    assert table.index.name == "forecaster"
    assert list(table.columns) == ["mae", "rmse", "hit_rate", "mae_vs_naive"]
    for name, forecast in forecasts.items():
        assert table.loc[name, "mae"] == pytest.approx(mae(actual, forecast))
        assert table.loc[name, "rmse"] == pytest.approx(rmse(actual, forecast))
        expected_hit = hit_rate(actual, forecast)
        if np.isnan(expected_hit):
            assert np.isnan(table.loc[name, "hit_rate"])
        else:
            assert table.loc[name, "hit_rate"] == pytest.approx(expected_hit)
    assert table.loc["naive", "mae_vs_naive"] == 1.0
    assert np.isnan(table.loc["naive", "hit_rate"])  # the random walk never calls a direction
    assert table.loc["model", "mae_vs_naive"] < 1.0
    assert table.loc["model", "mae_vs_naive"] == pytest.approx(
        table.loc["model", "mae"] / table.loc["naive", "mae"]
    )


def test_naive_alone_is_one(actual: np.ndarray) -> None:
    table = score_forecasts(actual, {"naive": np.zeros_like(actual)})
    assert table.loc["naive", "mae_vs_naive"] == 1.0


def test_without_naive_there_is_no_relative_column(actual: np.ndarray) -> None:
    table = score_forecasts(actual, {"model": actual.copy()})
    assert "mae_vs_naive" not in table.columns
    assert table.loc["model", "mae"] == 0.0


@pytest.mark.parametrize("shape", [(40, 2), (39, 3), (120,), (40, 3, 1)])
def test_shape_mismatch_names_the_forecaster(actual: np.ndarray, shape) -> None:
    forecasts = {"naive": np.zeros_like(actual), "lstm": np.zeros(shape, dtype="float32")}
    with pytest.raises(ValueError, match=r"'lstm' has shape .* actual has \(40, 3\)"):
        score_forecasts(actual, forecasts)
