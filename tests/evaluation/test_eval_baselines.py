"""Return baselines: AR against statsmodels, the others by hand, and causality for all."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from statsmodels.tsa.ar_model import AutoReg

from fincast.evaluation import baselines, volatility
from fincast.evaluation.baselines import ar_fit, ar_forecast
from fincast.evaluation.folds import Fold

RETURN_BASELINES = [
    baselines.naive,
    baselines.historical_mean,
    baselines.drift,
    baselines.autoregressive,
    baselines.historical_quantiles,
]
VOLATILITY_BASELINES = [
    volatility.persistence,
    volatility.ewma,
    volatility.garch,
    volatility.har,
    volatility.log_har,
    volatility.har_rolling,
]


@pytest.mark.parametrize("order", [1, 3, 5])
def test_ar_matches_statsmodels_autoreg(order: int) -> None:
    series = np.random.default_rng(order).normal(0.0003, 0.01, 800)
    series[1:] += 0.2 * series[:-1]
    reference = AutoReg(series, lags=order, trend="c").fit()
    np.testing.assert_allclose(ar_fit(series, order), reference.params, rtol=1e-9, atol=1e-12)
    ours = ar_forecast(ar_fit(series, order), series[None, -order:], horizon=6)[0]
    np.testing.assert_allclose(ours, reference.forecast(6), rtol=1e-8, atol=1e-12)


def test_ar_rejects_too_short_a_series() -> None:
    with pytest.raises(ValueError, match="order=5, values=8"):
        ar_fit(np.zeros(8), 5)


def test_autoregressive_uses_the_returns_up_to_each_origin(return_folds) -> None:
    fold = return_folds[0]
    coefficients = ar_fit(fold.history()["log_return"].dropna().to_numpy(), 5)
    forecasts = baselines.autoregressive(fold)
    position = fold.daily.index.get_loc(fold.origins[7])
    recent = fold.daily["log_return"].to_numpy()[position - 4 : position + 1]
    expected = ar_forecast(coefficients, recent[None, :], fold.horizon)[0]
    np.testing.assert_allclose(forecasts[7], expected, rtol=1e-5)


def test_historical_mean_is_the_training_mean(return_folds) -> None:
    fold = return_folds[1]
    forecasts = baselines.historical_mean(fold)
    expected = fold.daily.loc[: fold.train_end, "log_return"].mean()
    assert forecasts.shape == (len(fold.test), fold.horizon)
    np.testing.assert_allclose(forecasts, expected, rtol=1e-6)


def test_drift_is_the_mean_return_of_the_last_year(return_folds) -> None:
    fold = return_folds[0]
    origin = fold.origins[3]
    expected = fold.daily.loc[:origin, "log_return"].iloc[-250:].mean()
    np.testing.assert_allclose(baselines.drift(fold)[3], expected, rtol=1e-5)


def test_historical_quantiles_are_ordered_training_quantiles(return_folds) -> None:
    fold = return_folds[0]
    forecasts = baselines.historical_quantiles(fold)
    assert forecasts.shape == (len(fold.test), fold.horizon, len(baselines.QUANTILE_LEVELS))
    assert np.all(np.diff(forecasts, axis=-1) >= 0)
    expected = np.quantile(fold.history()["log_return"].dropna(), 0.1)
    assert forecasts[0, 0, 1] == pytest.approx(expected, rel=1e-6)


def _perturbed_after(fold: Fold, position: int, seed: int = 0) -> Fold:
    """The fold with every daily value after origin ``position`` scrambled."""
    rng = np.random.default_rng(seed)
    (ticker,) = fold.tickers
    daily = fold.daily.copy()
    later = daily.index > fold.origins[position]
    numbers = ["price", "log_return", "gk_variance"]
    daily.loc[later, numbers] = daily.loc[later, numbers] * rng.uniform(
        0.5, 2.0, (int(later.sum()), 3)
    )
    return dataclasses.replace(fold, dailies={ticker: daily})


@pytest.mark.parametrize("baseline", RETURN_BASELINES, ids=lambda f: f.__name__)
def test_return_baselines_see_nothing_after_the_origin(baseline, return_folds) -> None:
    fold = return_folds[1]
    position = len(fold.test) // 2
    original, changed = baseline(fold), baseline(_perturbed_after(fold, position))
    np.testing.assert_array_equal(original[: position + 1], changed[: position + 1])


@pytest.mark.parametrize("baseline", VOLATILITY_BASELINES, ids=lambda f: f.__name__)
def test_volatility_baselines_see_nothing_after_the_origin(baseline, volatility_folds) -> None:
    fold = volatility_folds[1]
    position = len(fold.test) // 2
    original, changed = baseline(fold), baseline(_perturbed_after(fold, position))
    assert original.shape == (len(fold.test), fold.horizon)
    np.testing.assert_allclose(original[: position + 1], changed[: position + 1], rtol=1e-6)
    assert not np.allclose(original[position + 1 :], changed[position + 1 :])
