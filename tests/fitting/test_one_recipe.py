"""The backtest tests what training deploys: one fit, the same weights, the same pooling.

``fincast-train``'s job (:func:`fincast.training.pipeline.run_training`) and a
walk-forward refit (:class:`fincast.evaluation.forecasters.ModelForecaster`, run by
the fold runner) fit through :func:`fincast.fitting.forecaster.fit_forecaster`. On
the same slice, seed and settings (learning-rate schedule and precision included)
they must give bit-identical weights.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fincast.conformal import interval_of
from fincast.data.loading import load_checked_bars
from fincast.data.windows import concat_windows
from fincast.evaluation.folds import make_folds
from fincast.evaluation.runner import historical_forecasts
from fincast.evaluation.series import prepare_panel
from fincast.evaluation.tasks import task_named
from fincast.evaluation.walkforward import backtest_panel, candidates_for, fold_plan
from fincast.specs import ReduceLearningRate
from fincast.training.pipeline import run_training
from jobs import make_job

TICKERS = ["^GSPC", "^IXIC"]


def recipe(tmp_path, **changes):
    """A tiny pooled job whose walk-forward plan is the hold-out: one fold of 60 days."""
    settings = {
        "model": "mlp",
        "units": [8],
        "tickers": TICKERS,
        "options": {},
        "lookback": 10,
        "horizon": 3,
        "epochs": 6,
        "batch_size": 128,
        "learning_rate": 0.03,
        "patience": 6,
        "reduce_lr": ReduceLearningRate(patience=1, factor=0.5, min_lr=1e-5),
        "precision": "mixed_bfloat16",
        "test_days": 60,
        "folds": 1,
        "step": 60,
        "min_train_windows": 1,
        "verbose": 0,
        "models": str(tmp_path / "models"),
        **changes,
    }
    return make_job(**settings)


def walk_forward_refit(job):
    """The model a walk-forward refit fits on the job's one fold, run by the fold runner."""
    bars, _ = load_checked_bars(job.data, job.features.price)
    windows, dailies = prepare_panel(bars, job)
    panel = concat_windows([windows[ticker] for ticker in bars])
    folds = make_folds(panel, dailies, horizon=job.task.horizon, plan=fold_plan(job.evaluation))
    model = candidates_for(job)[0]
    results = historical_forecasts(folds, [model], task_named(job.task.name).mean_loss)
    return model.forecast, folds[0], results[0]


@pytest.fixture(scope="module")
def trained_and_refitted(tmp_path_factory):
    job = recipe(tmp_path_factory.mktemp("recipe"))
    outcome = run_training(job)
    refit, fold, result = walk_forward_refit(job)
    return job, outcome, refit, fold, result


def test_a_walk_forward_refit_gives_the_weights_training_deploys(trained_and_refitted):
    _, outcome, refit, _, _ = trained_and_refitted
    deployed = outcome.training.model.get_weights()
    refitted = refit.model.get_weights()
    assert len(deployed) == len(refitted) > 0
    for mine, theirs in zip(deployed, refitted, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert refit.history == outcome.training.history


def test_the_schedule_and_precision_took_part(trained_and_refitted):
    _, outcome, refit, _, _ = trained_and_refitted
    rates = outcome.training.history["learning_rate"]
    assert min(rates) < rates[0], "reduce_lr never cut the rate: the test would not see it"
    assert refit.model.get_layer("head").compute_dtype == "float32"
    assert any(layer.compute_dtype == "bfloat16" for layer in refit.model.layers)


def test_the_refit_fold_is_the_hold_out_and_forecasts_alike(trained_and_refitted):
    _, outcome, _, fold, result = trained_and_refitted
    card = outcome.card
    assert str(fold.test.first_target.min().date()) == card["test_start"]
    assert str(fold.test.last_target.max().date()) == card["test_end"]
    assert sorted(set(fold.test.tickers)) == sorted(TICKERS) == sorted(card["tickers"])
    deployed = outcome.training.model.predict(np.asarray(fold.test.inputs), verbose=0)
    np.testing.assert_array_equal(result.forecasts["model"][..., 1], deployed)
    # and the walk-forward's interval is the deployed card's: the same calibration
    windows = np.asarray(fold.test.inputs)
    served = [
        interval_of(card, point, point, window)["upper"]
        for point, window in zip(deployed.astype("float64"), windows, strict=True)
    ]
    np.testing.assert_allclose(result.forecasts["model"][..., 2], served, rtol=1e-9)


def test_another_precision_gives_other_weights(trained_and_refitted, tmp_path):
    job, outcome, _, _, _ = trained_and_refitted
    float32 = dataclasses.replace(job.training, precision="float32")
    other = dataclasses.replace(job, training=float32)
    refit, _, _ = walk_forward_refit(other)
    deployed = outcome.training.model.get_weights()
    assert any(
        not np.array_equal(mine, theirs)
        for mine, theirs in zip(deployed, refit.model.get_weights(), strict=True)
    )


def test_a_pooled_backtest_fits_one_model_on_every_ticker(tmp_path):
    job = recipe(tmp_path, epochs=1, precision="float32", folds=2, baselines=["naive"])
    bars, _ = load_checked_bars(job.data, job.features.price)
    backtests = backtest_panel(bars, job)
    assert list(backtests) == TICKERS
    for ticker, backtest in backtests.items():
        assert backtest.fitted_on == tuple(TICKERS) and backtest.ticker == ticker
        assert backtest.point("model").shape == backtest.actual.shape
        assert sorted(set(backtest.fold.tolist())) == [0, 1]
        assert backtest.folds["test_windows"].sum() == len(backtest.origins)  # its own folds
    folds = backtests["^GSPC"].folds
    assert folds["train_windows"].iloc[0] > len(bars["^GSPC"]) * 1.5  # both tickers' windows


def test_a_per_ticker_backtest_fits_each_ticker_alone(tmp_path):
    job = recipe(
        tmp_path, epochs=1, precision="float32", folds=2, baselines=["naive"], pooling="per_ticker"
    )
    bars, _ = load_checked_bars(job.data, job.features.price)
    backtests = backtest_panel(bars, job)
    for ticker, backtest in backtests.items():
        assert backtest.fitted_on == (ticker,)
        assert backtest.folds["train_windows"].iloc[0] < len(bars[ticker])


def test_a_baselines_only_backtest_names_no_fitted_model(tmp_path):
    job = recipe(tmp_path, folds=2, baselines=["naive", "historical_mean"])
    bars, _ = load_checked_bars(job.data, job.features.price)
    for backtest in backtest_panel(bars, job, with_model=False).values():
        assert backtest.fitted_on == () and "model" not in backtest.forecasts
