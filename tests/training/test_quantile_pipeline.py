"""The main job with a quantile model under mixed precision: scores, card, forecasts, reload."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from fincast.data.sources import load_sample
from fincast.fitting.hardware import HardwareError
from fincast.serving.forecast import forecast_ticker, load_forecaster
from fincast.specs import ReduceLearningRate
from fincast.training.pipeline import run_training
from jobs import make_job

QUANTILES = [0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def quantile_outcome(tmp_path_factory):
    job = make_job(
        model="mlp",
        units=[8],
        tickers=["^GSPC"],
        lookback=10,
        horizon=3,
        epochs=2,
        test_days=60,
        quantiles=QUANTILES,
        precision="mixed_bfloat16",
        reduce_lr=ReduceLearningRate(patience=1),
        verbose=0,
        models=str(tmp_path_factory.mktemp("models")),
    )
    return job, run_training(job)


def test_scores_the_median_next_to_baselines_with_interval_columns(quantile_outcome):
    _, outcome = quantile_outcome
    scores = outcome.scores
    assert list(scores.index) == ["model", "naive", "historical_mean"]
    assert {"mae", "mae_vs_naive", "pinball", "coverage", "coverage_target"} <= set(scores)
    model = scores.loc["model"]
    assert 0.0 <= model["coverage"] <= 1.0 and model["coverage_target"] == pytest.approx(0.8)
    assert model["pinball"] > 0 and np.isfinite(model["mae"])
    assert scores.loc[["naive", "historical_mean"], "pinball"].isna().all()


def test_card_carries_quantiles_precision_and_data_range(quantile_outcome):
    _, outcome = quantile_outcome
    card = outcome.card
    assert card["quantiles"] == QUANTILES
    assert card["precision"] == "mixed_bfloat16" and card["distribution"] == "none"
    assert card["train_start"] < card["train_end"] < card["test_start"]
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training
    assert json.loads(outcome.model_path.with_suffix(".json").read_text()) == card


def test_forecast_has_per_step_quantiles_and_reloads_identically(quantile_outcome):
    _, outcome = quantile_outcome
    (forecast,) = outcome.forecasts
    assert set(forecast.quantiles) == {"0.1", "0.5", "0.9"}
    assert forecast.values == forecast.quantiles["0.5"]
    payload = json.loads(json.dumps(forecast.to_dict()))
    for step in payload["forecast"]:
        low, mid, high = (step["quantiles"][level] for level in ("0.1", "0.5", "0.9"))
        assert low <= mid == step["value"] <= high
    assert list(forecast.to_frame().columns) == [
        "date",
        "log_return",
        "price",
        "q0.1",
        "q0.5",
        "q0.9",
        "lower",  # the model's 0.1-0.9 interval after conformalised quantile regression
        "upper",
    ]
    correction = np.asarray(outcome.card["intervals"]["correction"])
    np.testing.assert_allclose(
        forecast.interval["upper"], np.add(forecast.quantiles["0.9"], correction), rtol=1e-9
    )
    loaded = load_forecaster(str(outcome.model_path))
    again = forecast_ticker(loaded, load_sample(["^GSPC"])["^GSPC"], "^GSPC")
    np.testing.assert_allclose(again.quantiles["0.9"], forecast.quantiles["0.9"], atol=1e-6)


def test_quantiles_without_the_median_are_refused_when_the_job_is_built(tmp_path):
    with pytest.raises(ValueError, match="must include 0.5"):
        make_job(model="mlp", tickers=["NOPE"], quantiles=[0.1, 0.9])


def test_unrunnable_distribution_is_refused_before_loading_data():
    job = make_job(model="mlp", tickers=["NOPE"], distribution="data_parallel")
    with pytest.raises(HardwareError, match="needs 2 or more devices"):
        run_training(job)


def test_score_unseen_uses_the_median_of_a_quantile_model(quantile_outcome):
    from fincast.data.sources import load_sample
    from fincast.evaluation.backtest import score_unseen
    from fincast.serving.forecast import load_forecaster

    _, outcome = quantile_outcome
    forecaster = load_forecaster(str(outcome.model_path))
    scores = score_unseen(forecaster, load_sample(["^GSPC"])["^GSPC"])
    assert {"model", "naive"} <= set(scores.index) and scores.attrs["windows"] > 0
