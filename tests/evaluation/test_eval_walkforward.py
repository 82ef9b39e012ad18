"""Walk-forward with real (tiny) training: leakage guards, no skill on shuffled data, progress."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from fincast.evaluation.folds import FoldPlan, make_folds
from fincast.evaluation.forecasters import MODEL
from fincast.evaluation.report import compare
from fincast.evaluation.walkforward import (
    WalkForwardJob,
    backtest_series,
    candidates_for,
    prepare_series,
)
from fincast.models.builders import build_lstm

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]


def tiny_job(task: str = "returns", **changes) -> WalkForwardJob:
    settings = {
        "tickers": ["^GSPC"],
        "build_model": functools.partial(build_lstm, units=4),
        "task": task,
        "target": "log_return" if task == "returns" else "realised_vol",
        "lookback": 10,
        "horizon": 3,
        "plan": FoldPlan(folds=2, step=60, min_train_windows=100),
        "epochs": 2,
        "patience": 0,
        "seed": 3,
    }
    return WalkForwardJob(**{**settings, **changes})


def scramble_after(bars: pd.DataFrame, cutoff: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """Bars whose every day after ``cutoff`` is rescaled and widened at random (still valid)."""
    rng = np.random.default_rng(seed)
    changed = bars.copy()
    later = changed.index > cutoff
    factors = rng.uniform(0.8, 1.25, int(later.sum()))
    changed.loc[later, PRICE_COLUMNS] = changed.loc[later, PRICE_COLUMNS].mul(factors, axis=0)
    widen = rng.uniform(1.0, 1.02, int(later.sum()))  # changes each day's range, too
    changed.loc[later, "high"] *= widen
    changed.loc[later, "low"] /= widen
    changed.loc[later, "volume"] = changed.loc[later, "volume"] * rng.uniform(0.5, 2.0, later.sum())
    return changed


@pytest.mark.parametrize("task", ["returns", "volatility"])
def test_data_after_a_folds_cutoff_leaves_its_forecasts_unchanged(gspc_bars, task) -> None:
    bars = gspc_bars.iloc[-700:]
    # Fit once (fold 0); fold 1 reuses the model, so the guard costs two fits per task.
    # No validation split: the model trains on every training window, so a window that
    # reaches past the cutoff would change its weights (validation windows are a subset).
    plan = FoldPlan(folds=2, step=60, min_train_windows=100, refit_every=0)
    job = tiny_job(task, plan=plan, validation_fraction=0.0)
    original = backtest_series(bars, job)
    first_fold = original.fold == 0
    cutoff = original.origins[first_fold].max()
    changed = backtest_series(scramble_after(bars, cutoff), job)
    for name, forecast in original.forecasts.items():
        np.testing.assert_allclose(
            changed.forecasts[name][first_fold],
            forecast[first_fold],
            rtol=1e-6,
            atol=1e-9,
            err_msg=f"{name} changed when only data after {cutoff.date()} changed",
        )
    # the later fold does see the change: the perturbation is real
    assert not np.allclose(
        changed.forecasts[MODEL][~first_fold], original.forecasts[MODEL][~first_fold]
    )


def shuffled_bars(bars: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Bars rebuilt from randomly permuted daily moves, so nothing in them is predictable."""
    rng = np.random.default_rng(seed)
    relative = np.log(bars[PRICE_COLUMNS]).sub(np.log(bars["close"].shift()), axis=0).iloc[1:]
    relative = relative.iloc[rng.permutation(len(relative))]
    steps = relative["close"].to_numpy()
    previous = 1000 * np.exp(np.concatenate([[0.0], np.cumsum(steps)[:-1]]))
    prices = np.exp(relative.to_numpy()) * previous[:, None]
    frame = pd.DataFrame(prices, columns=PRICE_COLUMNS, index=bars.index[1:])
    frame["adj_close"] = frame["close"]
    frame["volume"] = bars["volume"].iloc[1:].to_numpy()[rng.permutation(len(frame))]
    return frame


def test_no_significant_skill_over_naive_on_shuffled_returns(gspc_bars) -> None:
    bars = shuffled_bars(gspc_bars.iloc[-1200:])
    plan = FoldPlan(folds=3, step=150, min_train_windows=100, refit_every=0)
    job = tiny_job(plan=plan, baselines=["naive"])
    backtest = backtest_series(bars, job)
    for key, test in compare(backtest, "naive").items():
        assert not (test.p_value < 0.05 and test.mean_difference < 0), (key, test)


def test_progress_reports_every_fold(gspc_bars) -> None:
    lines = []
    job = tiny_job(build_model=None)
    backtest_series(
        gspc_bars.iloc[-700:], job, progress=lambda r, n: lines.append(r.line(n, ["naive"]))
    )
    assert len(lines) == 2 and lines[0].startswith("fold 1/2: train ")
    assert "| test " in lines[0] and "loss naive " in lines[0]


def test_parallel_folds_give_the_same_forecasts(gspc_bars) -> None:
    bars = gspc_bars.iloc[-700:]
    job = tiny_job(build_model=None, plan=FoldPlan(folds=3, step=60, min_train_windows=100))
    sequential = backtest_series(bars, job)
    job.n_jobs = 2
    lines: list[str] = []
    parallel = backtest_series(bars, job, progress=lambda r, n: lines.append(r.line(n, [])))
    assert len(lines) == 3
    assert list(parallel.folds.index) == [0, 1, 2]
    for name, forecast in sequential.forecasts.items():
        np.testing.assert_array_equal(parallel.forecasts[name], forecast)


@pytest.mark.parametrize("setting", ["auto", False])
def test_the_models_fits_follow_the_jobs_jit_compile(gspc_bars, setting) -> None:
    job = tiny_job(jit_compile=setting, epochs=1)
    windows, daily = prepare_series(gspc_bars.iloc[-400:], job)
    fold = make_folds(windows, daily, horizon=job.horizon, plan=job.plan)[0]
    model = candidates_for(job)[0].forecast
    forecasts = model(fold)
    assert model.model.jit_compile is (setting == "auto")  # XLA is JAX's "auto"
    assert forecasts.shape == (len(fold.test), job.horizon) and np.isfinite(forecasts).all()
