"""Walk-forward with real (tiny) training: leakage guards, no skill on shuffled data, progress."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from fincast.evaluation.folds import make_folds
from fincast.evaluation.forecasters import MODEL
from fincast.evaluation.report import compare
from fincast.evaluation.series import prepare_series
from fincast.evaluation.walkforward import Backtest, backtest_panel, candidates_for, fold_plan
from fincast.specs import JobSpec
from jobs import make_job

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]
TICKER = "^GSPC"


def tiny_job(task: str = "returns", **changes) -> JobSpec:
    settings = {
        "model": "lstm",
        "units": 4,
        "tickers": [TICKER],
        "task_name": task,
        "lookback": 10,
        "horizon": 3,
        "folds": 2,
        "step": 60,
        "min_train_windows": 100,
        "epochs": 2,
        "patience": 0,
        "seed": 3,
        "verbose": 0,
    }
    return make_job(**{**settings, **changes})


def backtest_series(bars: pd.DataFrame, job: JobSpec, **options) -> Backtest:
    """The walk-forward backtest of one ticker's bars."""
    backtests = backtest_panel({TICKER: bars}, job, **options)
    assert list(backtests) == [TICKER]
    return backtests[TICKER]


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
    job = tiny_job(task, refit_every=0, validation_fraction=0.0)
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
    job = tiny_job(folds=3, step=150, refit_every=0, baselines=["naive"])
    backtest = backtest_series(bars, job)
    for key, test in compare(backtest, "naive").items():
        assert not (test.p_value < 0.05 and test.mean_difference < 0), (key, test)


def test_progress_reports_every_fold(gspc_bars) -> None:
    lines, labels = [], []

    def progress(label, result, total) -> None:
        labels.append(label)
        lines.append(result.line(total, ["naive"]))

    backtest_series(gspc_bars.iloc[-700:], tiny_job(), with_model=False, progress=progress)
    assert labels == [TICKER, TICKER]
    assert len(lines) == 2 and lines[0].startswith("fold 1/2: train ")
    assert "| test " in lines[0] and "loss naive " in lines[0]


def test_parallel_folds_give_the_same_forecasts(gspc_bars) -> None:
    bars = gspc_bars.iloc[-700:]
    job = tiny_job(folds=3)
    sequential = backtest_series(bars, job, with_model=False)
    job = dataclasses.replace(job, evaluation=dataclasses.replace(job.evaluation, n_jobs=2))
    lines: list[str] = []
    parallel = backtest_series(
        bars, job, with_model=False, progress=lambda _, r, n: lines.append(r.line(n, []))
    )
    assert len(lines) == 3
    assert list(parallel.folds.index) == [0, 1, 2]
    for name, forecast in sequential.forecasts.items():
        np.testing.assert_array_equal(parallel.forecasts[name], forecast)


@pytest.mark.parametrize("setting", ["auto", False])
def test_the_models_fits_follow_the_jobs_jit_compile(gspc_bars, setting) -> None:
    job = tiny_job(jit_compile=setting, epochs=1)
    windows, daily = prepare_series(gspc_bars.iloc[-400:], job, TICKER)
    fold = make_folds(windows, daily, horizon=job.task.horizon, plan=fold_plan(job.evaluation))[0]
    model = candidates_for(job)[0].forecast
    forecasts = model(fold)
    assert model.model.jit_compile is (setting == "auto")  # XLA is JAX's "auto"
    # lower, point, upper: the fold's split-conformal 80% interval around the point forecast
    assert forecasts.shape == (len(fold.test), job.task.horizon, 3)
    assert np.isfinite(forecasts).all()
    # scaled by each test window's root mean square log return over its last sessions
    scale = model.intervals["scale"]
    recent = np.asarray(fold.test.inputs, dtype="float64")[:, -scale["window"] :, 0]
    scales = np.maximum(np.sqrt(np.mean(recent**2, axis=1)), scale["floor"])
    width = np.asarray(model.intervals["half_width"]) * scales[:, None]
    np.testing.assert_allclose(forecasts[..., 2] - forecasts[..., 1], width, rtol=1e-6)
    np.testing.assert_allclose(
        forecasts[..., 1] - forecasts[..., 0], forecasts[..., 2] - forecasts[..., 1]
    )


@pytest.fixture(scope="module")
def panel_bars() -> dict[str, pd.DataFrame]:
    from fincast.data.loading import load_bars

    bars = load_bars("sample", ["^GSPC", "^IXIC"])
    return {"^GSPC": bars["^GSPC"].iloc[-700:], "^IXIC": bars["^IXIC"].iloc[-650:]}


def test_a_panels_baselines_are_fitted_per_ticker(panel_bars) -> None:
    job = tiny_job(tickers=list(panel_bars))
    panel = backtest_panel(panel_bars, job, with_model=False)
    assert list(panel) == list(panel_bars)
    for ticker, bars in panel_bars.items():
        alone = backtest_panel({ticker: bars}, job, with_model=False)[ticker]
        backtest = panel[ticker]
        assert backtest.ticker == ticker and backtest.baselines == alone.baselines
        pd.testing.assert_index_equal(backtest.origins, alone.origins)
        np.testing.assert_array_equal(backtest.actual, alone.actual)
        np.testing.assert_array_equal(backtest.last_price, alone.last_price)
        for name, forecast in alone.forecasts.items():
            np.testing.assert_allclose(backtest.forecasts[name], forecast, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("pooling", ["pooled", "per_ticker"])
def test_the_model_is_refitted_by_the_one_fit_as_the_job_pools_it(
    panel_bars, pooling, monkeypatch
) -> None:
    from fincast.fitting import forecaster

    fitted_on: list[tuple[str, ...]] = []
    real_fit = forecaster.fit_forecaster

    def spy(job, windows, **options):
        fitted_on.append(tuple(pd.unique(windows.tickers)))
        return real_fit(job, windows, **options)

    monkeypatch.setattr(forecaster, "fit_forecaster", spy)
    job = tiny_job(
        model="mlp",
        units=[4],
        epochs=1,
        refit_every=0,
        baselines=["naive"],
        pooling=pooling,
        tickers=list(panel_bars),
    )
    labels: list[str] = []
    backtests = backtest_panel(panel_bars, job, progress=lambda label, *_: labels.append(label))
    tickers = tuple(panel_bars)
    if pooling == "pooled":
        assert fitted_on == [tickers]  # one fit (refit_every=0) on every ticker's windows
        assert labels == ["pooled (2 tickers)"] * 2
        assert all(backtest.fitted_on == tickers for backtest in backtests.values())
    else:
        assert fitted_on == [(ticker,) for ticker in tickers]
        assert labels == [ticker for ticker in tickers for _ in range(2)]
        assert all(backtests[ticker].fitted_on == (ticker,) for ticker in tickers)
    for backtest in backtests.values():
        forecast = backtest.point(MODEL)  # the point inside the conformal interval
        assert forecast.shape == backtest.actual.shape and np.isfinite(forecast).all()
        assert backtest.forecasts[MODEL].shape == (*backtest.actual.shape, 3)


def scramble_before(bars: pd.DataFrame, cutoff: pd.Timestamp, seed: int = 1) -> pd.DataFrame:
    """Bars whose every day before ``cutoff`` is rescaled and widened at random (still valid)."""
    rng = np.random.default_rng(seed)
    changed = bars.copy()
    earlier = changed.index < cutoff
    factors = rng.uniform(0.5, 2.0, int(earlier.sum()))
    changed.loc[earlier, PRICE_COLUMNS] = changed.loc[earlier, PRICE_COLUMNS].mul(factors, axis=0)
    changed.loc[earlier, "high"] *= rng.uniform(1.0, 1.05, int(earlier.sum()))
    return changed


@pytest.mark.parametrize("task", ["returns", "volatility"])
def test_a_rolling_window_is_rolling_for_the_model_and_every_baseline(gspc_bars, task):
    """Data before a fold's rolling window cannot change any forecast of that fold."""
    bars = gspc_bars.iloc[-900:]
    job = tiny_job(task, folds=1, step=60, window="rolling", train_windows=300, epochs=1)
    before = backtest_series(bars, job)
    windows, daily = prepare_series(bars, job, TICKER)
    (fold,) = make_folds(windows, daily, horizon=3, plan=fold_plan(job.evaluation))
    first_input = daily.index.get_loc(fold.train.as_of.min()) - (job.task.lookback - 1)
    window_start = daily.index[first_input]
    assert window_start > bars.index[200] and len(fold.train) == 300
    # the first window day's features and daily return use the day before it, so keep it
    changed = scramble_before(bars, bars.index[bars.index.get_loc(window_start) - 1])
    after = backtest_series(changed, job)
    assert list(after.forecasts) == list(before.forecasts) and len(before.forecasts) > 3
    for name, forecast in before.forecasts.items():
        np.testing.assert_array_equal(after.forecasts[name], forecast, err_msg=name)
    expanding = backtest_series(
        changed,
        dataclasses.replace(
            job,
            evaluation=dataclasses.replace(job.evaluation, window="expanding", train_windows=None),
        ),
    )
    moved = [
        name
        for name, forecast in before.forecasts.items()
        if not np.array_equal(expanding.forecasts[name], forecast)
    ]
    assert moved, "an expanding window should see the changed days"
    assert fold.daily.index[0] == window_start  # what the baselines see starts with the model's


def test_the_fold_table_names_origins_and_target_days_and_test_origins_never_overlap(gspc_bars):
    job = tiny_job(folds=3, step=40)
    folds = backtest_series(gspc_bars.iloc[-600:], job, with_model=False).folds
    days = ("first_origin", "last_origin", "first_target", "last_target")
    expected = [f"{part}_{day}" for part in ("train", "test") for day in days]
    assert [column for column in folds.columns if column.endswith(days)] == expected
    for earlier, later in zip(folds.index[:-1], folds.index[1:], strict=True):
        assert folds.loc[earlier, "test_last_origin"] < folds.loc[later, "test_first_origin"]
        assert folds.loc[later, "train_last_target"] < folds.loc[later, "test_first_target"]
    assert (folds["test_first_origin"] < folds["test_first_target"]).all()


def test_the_report_counts_the_data_quirks(gspc_bars):
    from fincast.evaluation.report import build_report, render

    bars = gspc_bars.loc[:"2004-12-31"]
    backtest = backtest_series(bars, tiny_job("volatility"), with_model=False)
    seen = (bars["open"] == bars["close"].shift(1)).loc[: backtest.origins.max()]
    stale = int(seen.iloc[1:].sum())  # the daily series starts with the first return
    assert backtest.quirks["stale_open"] == stale > 500
    report = build_report(backtest, mcs_size=None)
    assert report.meta["data_quirks"]["stale_open"] == stale
    assert f"Data quirks: {stale:,} stale opens" in render(report)
