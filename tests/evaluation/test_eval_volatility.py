"""Volatility target and baselines: Garman-Klass by hand, EWMA by loop, GARCH against arch's
fitted parameters run through a hand-written recursion, HAR against statsmodels OLS."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from arch import arch_model

from fincast.data.features import daily_variance, stale_opens, zero_ranges
from fincast.evaluation import volatility
from fincast.evaluation.targets import cumulative_volatility, to_variance
from fincast.evaluation.tasks import task_named


def test_daily_variance_is_garman_klass_or_a_valid_estimator_on_quirky_days(gspc_bars) -> None:
    """GK on ordinary days; Parkinson where the open is the previous close; the squared
    close-to-close return where high equals low."""
    stale = stale_opens(gspc_bars)
    assert stale.loc["1999":"2005"].mean() > 0.9 and stale.loc["2010":].mean() < 0.1
    assert int(stale.sum()) == 2004  # as an outside recomputation found
    ordinary = gspc_bars.index.get_loc(gspc_bars.loc["2015"].index[10])
    day = gspc_bars.iloc[ordinary]
    expected = (
        0.5 * math.log(day.high / day.low) ** 2
        - (2 * math.log(2) - 1) * math.log(day.close / day.open) ** 2
    )
    variance = daily_variance(gspc_bars)
    assert not stale.iloc[ordinary]
    assert variance.iloc[ordinary] == pytest.approx(expected, rel=1e-12)
    first_stale = int(np.flatnonzero(stale.to_numpy())[0])
    day = gspc_bars.iloc[first_stale]
    parkinson = math.log(day.high / day.low) ** 2 / (4 * math.log(2))
    assert variance.iloc[first_stale] == pytest.approx(parkinson, rel=1e-12)
    flat = gspc_bars.iloc[-3:].copy()
    flat.iloc[-1, flat.columns.get_indexer(["high", "low"])] = flat["close"].iloc[-1]
    flat.iloc[-1, flat.columns.get_loc("open")] = flat["close"].iloc[-1]
    assert zero_ranges(flat).tolist() == [False, False, True]
    close_to_close = math.log(flat["close"].iloc[-1] / flat["close"].iloc[-2]) ** 2
    assert daily_variance(flat).iloc[-1] == pytest.approx(close_to_close, rel=1e-12)
    assert (variance >= 0).all()


def test_volatility_targets_are_future_realised_volatility(volatility_folds) -> None:
    fold = volatility_folds[0]
    index = 17
    origin = fold.test.as_of[index]
    future = fold.daily["gk_variance"]
    position = future.index.get_loc(origin)
    next_days = future.iloc[position + 1 : position + 1 + fold.horizon].to_numpy()
    assert len(next_days) == fold.horizon  # well before the fold's last origin
    expected = [math.sqrt(252 * next_days[: k + 1].mean()) for k in range(fold.horizon)]
    np.testing.assert_allclose(fold.test.targets[index], expected, rtol=1e-5)


def test_task_windows_rejects_a_wrong_target() -> None:
    frame = pd.DataFrame({"log_return": np.zeros(30)}, index=pd.bdate_range("2020", periods=30))
    make_windows = task_named("volatility").make_windows
    with pytest.raises(ValueError, match="Received: target='log_return'"):
        make_windows(frame, frame, target="log_return", lookback=5, horizon=2)
    with pytest.raises(ValueError, match="Unknown task 'prices'"):
        task_named("prices")


def test_cumulative_volatility_round_trips_to_variance() -> None:
    daily = np.array([[1e-4, 1e-4, 4e-4]])
    vol = cumulative_volatility(daily)
    np.testing.assert_allclose(to_variance(vol[0]), [1e-4, 1e-4, 2e-4], rtol=1e-12)


def test_ewma_matches_a_plain_loop() -> None:
    returns = np.random.default_rng(0).normal(0, 0.01, 300)
    expected, previous = [], 2e-4
    for value in returns:
        previous = 0.94 * previous + 0.06 * value**2
        expected.append(previous)
    np.testing.assert_allclose(
        volatility.ewma_variance(returns, lam=0.94, initial=2e-4), expected, rtol=1e-12
    )


def test_ewma_forecast_is_flat_over_the_horizon(volatility_folds) -> None:
    forecasts = volatility.ewma(volatility_folds[0])
    np.testing.assert_allclose(forecasts, forecasts[:, :1].repeat(forecasts.shape[1], 1), rtol=1e-6)


def test_garch_matches_a_hand_rolled_recursion_with_arch_params(volatility_folds) -> None:
    fold = volatility_folds[1]
    returns = fold.daily["log_return"].dropna() * 100
    fitted_rows = int((returns.index <= fold.train_end).sum())
    result = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1).fit(
        last_obs=fitted_rows, disp="off"
    )
    mu, omega, alpha, beta = (result.params[k] for k in ("mu", "omega", "alpha[1]", "beta[1]"))
    assert result.nobs == fitted_rows
    # sigma^2 of the last fitted day, then the GARCH(1,1) recursion over later days
    last_fitted = result.conditional_volatility.iloc[fitted_rows - 1]
    variance = {returns.index[fitted_rows - 1]: last_fitted**2}
    values = returns.to_numpy()
    for t in range(fitted_rows, len(values)):
        previous = variance[returns.index[t - 1]]
        variance[returns.index[t]] = omega + alpha * (values[t - 1] - mu) ** 2 + beta * previous
    paths = volatility.garch_variance_paths(fold) * 1e4
    for row, origin in enumerate(fold.origins[::25]):
        t = returns.index.get_loc(origin)
        step = omega + alpha * (values[t] - mu) ** 2 + beta * variance[origin]
        expected = [step]
        for _ in range(fold.horizon - 1):
            expected.append(omega + (alpha + beta) * expected[-1])
        np.testing.assert_allclose(paths[row * 25], expected, rtol=1e-6)


def test_garch_volatility_is_cumulative_of_its_variance_paths(volatility_folds) -> None:
    fold = volatility_folds[0]
    factor = volatility.level_calibration(fold.history())
    expected = cumulative_volatility(volatility.garch_variance_paths(fold) * factor)
    np.testing.assert_allclose(volatility.garch(fold), expected, rtol=1e-6)


def test_har_coefficients_match_statsmodels_ols(volatility_folds) -> None:
    variance = volatility_folds[0].history()["gk_variance"]
    ours = volatility.har_fit(variance, horizon=3)
    features = volatility.har_features(variance)
    targets = volatility.har_targets(variance, 3)
    for step in range(3):
        data = pd.concat([features, targets[step + 1].rename("y")], axis=1).dropna()
        reference = sm.OLS(data["y"], sm.add_constant(data[features.columns])).fit()
        np.testing.assert_allclose(ours[step], reference.params.to_numpy(), rtol=1e-7)


def test_har_targets_are_means_of_the_next_days() -> None:
    series = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    targets = volatility.har_targets(series, 2)
    assert targets.loc[0].tolist() == [2.0, 2.5]
    assert np.isnan(targets.loc[4]).all()


def test_har_forecasts_are_positive_volatilities(volatility_folds) -> None:
    forecasts = volatility.har(volatility_folds[0])
    assert (forecasts > 0).all() and (forecasts < 2).all()


def test_persistence_is_the_realised_volatility_of_the_last_days(volatility_folds) -> None:
    fold = volatility_folds[0]
    forecasts = volatility.persistence(fold)
    position = fold.daily.index.get_loc(fold.origins[9])
    last = fold.daily["gk_variance"].to_numpy()[position - fold.horizon + 1 : position + 1][::-1]
    expected = [math.sqrt(252 * last[: k + 1].mean()) for k in range(fold.horizon)]
    np.testing.assert_allclose(forecasts[9], expected, rtol=1e-5)


def test_holdout_baselines_of_the_volatility_task(volatility_folds) -> None:
    from fincast.evaluation.holdout import volatility_holdout_baselines

    fold = volatility_folds[0]
    assert task_named("volatility").holdout_baselines is volatility_holdout_baselines
    found = volatility_holdout_baselines(fold.train, fold.test, {"": fold.daily})
    np.testing.assert_allclose(found["naive"], volatility.persistence(fold), rtol=1e-6)
    np.testing.assert_allclose(found["historical_mean"][0], fold.train.targets.mean(axis=0))


def test_log_har_matches_statsmodels_ols_on_logs_with_the_bias_term(volatility_folds) -> None:
    fold = volatility_folds[0]
    variance = fold.history()["gk_variance"].clip(lower=volatility.MIN_DAILY_VARIANCE)
    features = np.log(volatility.har_features(variance))
    targets = np.log(volatility.har_targets(variance, fold.horizon))
    future = np.log(volatility.har_features(fold.daily["gk_variance"].clip(lower=1e-10)))
    forecasts = volatility.log_har(fold)
    for step in range(fold.horizon):
        data = pd.concat([features, targets[step + 1].rename("y")], axis=1).dropna()
        fit = sm.OLS(data["y"], sm.add_constant(data.drop(columns="y"))).fit()
        design = sm.add_constant(future.reindex(fold.origins), has_constant="add")
        expected = np.exp(design.to_numpy() @ fit.params.to_numpy() + fit.scale / 2)
        np.testing.assert_allclose(forecasts[:, step], np.sqrt(252 * expected), rtol=1e-5)


def test_rolling_har_fits_the_latest_window_only(volatility_folds) -> None:
    fold = volatility_folds[0]
    history = fold.history()["gk_variance"]
    assert len(history) > volatility.HAR_WINDOW
    window = history.iloc[-volatility.HAR_WINDOW :]
    features = volatility.har_features(window)
    target = volatility.har_targets(window, 1)[1].rename("y")
    data = pd.concat([features, target], axis=1).dropna()
    fit = sm.OLS(data["y"], sm.add_constant(data.drop(columns="y"))).fit()
    at_origins = volatility.har_features(fold.daily["gk_variance"]).reindex(fold.origins)
    expected = sm.add_constant(at_origins, has_constant="add").to_numpy() @ fit.params.to_numpy()
    np.testing.assert_allclose(
        volatility.har_rolling(fold)[:, 0], np.sqrt(252 * np.maximum(expected, 1e-10)), rtol=1e-5
    )
    assert not np.allclose(volatility.har_rolling(fold), volatility.har(fold))


def test_ewma_and_garch_are_level_calibrated_on_the_training_days(volatility_folds) -> None:
    fold = volatility_folds[0]
    history = fold.history()
    factor = volatility.level_calibration(history)
    expected = history["gk_variance"].mean() / (history["log_return"].dropna() ** 2).mean()
    assert factor == pytest.approx(expected) and 0.2 < factor < 1.0  # no overnight move in GK
    returns = fold.daily["log_return"].fillna(0.0).to_numpy()
    initial = float(history["log_return"].dropna().var())
    raw = pd.Series(volatility.ewma_variance(returns, lam=0.94, initial=initial), fold.daily.index)
    np.testing.assert_allclose(
        volatility.ewma(fold)[:, 0],
        np.sqrt(252 * raw.loc[fold.origins].to_numpy() * factor),
        rtol=1e-5,
    )
