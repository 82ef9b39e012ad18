"""Training calibrates the interval on its validation windows; every serving path gives it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fincast.data.loading import load_checked_bars
from fincast.fitting.batches import predict_windows
from fincast.fitting.calibration import calibrate_intervals, interval_bounds
from fincast.fitting.forecaster import fit_forecaster
from fincast.serving.forecast import Forecaster, forecast_ticker
from fincast.specs import IntervalSpec
from fincast.training.pipeline import job_holdout_fold
from jobs import make_job


def _fitted(quantiles=None, level=0.8, scale="recent_volatility"):
    job = make_job(
        model="mlp",
        units=[8],
        lookback=10,
        horizon=3,
        epochs=2,
        test_days=60,
        verbose=0,
        quantiles=quantiles,
        intervals=IntervalSpec(level=level, scale=scale),
    )
    bars, _ = load_checked_bars(job.data, job.features.price)
    fold = job_holdout_fold(bars, job)
    return job, bars, fit_forecaster(job, fold.train)


def _served(job, bars, fitted, entry):
    """The ^GSPC forecast of the fitted model served with ``entry`` on its card."""
    card = {
        "features": list(job.features.names),
        "lookback": 10,
        "horizon": 3,
        "tickers": ["^GSPC"],
        "intervals": entry,
    }
    return forecast_ticker(Forecaster(fitted.model, card, "memory"), bars["^GSPC"], "^GSPC")


def _by_hand(scores: np.ndarray, alpha: float) -> np.ndarray:
    """The ceil((n + 1)(1 - alpha))-th smallest score of each column."""
    rank = math.ceil((len(scores) + 1) * (1 - alpha))
    return np.sort(scores, axis=0)[rank - 1]


def _recent_volatility(returns: np.ndarray) -> np.ndarray:
    """Root mean square of each row's log returns."""
    return np.sqrt(np.mean(np.square(returns, dtype="float64"), axis=-1))


def test_scaled_split_conformal_is_the_quantile_of_volatility_normalised_residuals() -> None:
    job, bars, fitted = _fitted()
    entry = calibrate_intervals(job, fitted)
    column = list(job.features.names).index("log_return")
    inputs = np.asarray(fitted.validation.inputs, dtype="float64")
    scales = _recent_volatility(inputs[:, -10:, column])  # scale_window 20 > lookback 10
    assert entry["scale"]["window"] == 10 and entry["scale"]["column"] == "log_return"
    np.testing.assert_allclose(entry["scale"]["floor"], 0.1 * np.median(scales), rtol=1e-6)
    predicted = predict_windows(fitted.model, fitted.validation.inputs)
    residuals = np.abs(fitted.validation.targets - predicted) / scales[:, None]
    np.testing.assert_allclose(entry["half_width"], _by_hand(residuals, 0.2), rtol=1e-5)
    forecast = _served(job, bars, fitted, entry)
    # the scale of the forecast: the last 10 daily log returns of the price, from the bars
    latest = np.diff(np.log(bars["^GSPC"]["adj_close"].to_numpy(dtype="float64")))[-10:]
    width = np.asarray(entry["half_width"]) * max(
        _recent_volatility(latest), entry["scale"]["floor"]
    )
    np.testing.assert_allclose(
        np.subtract(forecast.interval["upper"], forecast.values), width, rtol=1e-5
    )
    np.testing.assert_allclose(
        np.subtract(forecast.values, forecast.interval["lower"]), width, rtol=1e-5
    )
    assert forecast.to_dict()["interval"] == {"level": 0.8, "method": "split", "scale_window": 10}
    assert "scaled by the last 10 sessions' volatility" in forecast.interval_caption


def test_unscaled_split_conformal_half_width_is_the_validation_residual_quantile() -> None:
    job, bars, fitted = _fitted(scale="none")
    entry = calibrate_intervals(job, fitted)
    assert "scale" not in entry
    predicted = predict_windows(fitted.model, fitted.validation.inputs)
    residuals = np.abs(fitted.validation.targets - predicted)
    assert entry["method"] == "split" and entry["level"] == 0.8
    assert entry["calibration_windows"] == len(fitted.validation) > 100
    np.testing.assert_allclose(entry["half_width"], _by_hand(residuals, 0.2), rtol=1e-6)
    forecast = _served(job, bars, fitted, entry)
    np.testing.assert_allclose(
        np.subtract(forecast.interval["upper"], forecast.values), entry["half_width"], rtol=1e-6
    )
    steps = forecast.to_dict()["forecast"]
    assert steps[0]["lower"] == forecast.interval["lower"][0]
    assert forecast.to_dict()["interval"] == {"level": 0.8, "method": "split"}
    assert list(forecast.to_frame().columns[-2:]) == ["lower", "upper"]
    assert "the 80% interval of log_return (split conformal)" in forecast.interval_caption


def test_cqr_widens_the_quantile_models_own_interval() -> None:
    job, _, fitted = _fitted(quantiles=[0.1, 0.5, 0.9])
    entry = calibrate_intervals(job, fitted)
    predicted = predict_windows(fitted.model, fitted.validation.inputs)
    actual = fitted.validation.targets
    scores = np.maximum(predicted[..., 0] - actual, actual - predicted[..., 2])
    assert entry["method"] == "cqr" and entry["lower_quantile"] == 0.1
    np.testing.assert_allclose(entry["correction"], _by_hand(scores, 0.2), rtol=1e-6)


def test_a_level_the_quantiles_lack_widens_the_outermost_pair() -> None:
    assert interval_bounds([0.25, 0.5, 0.75], 0.9) == (0, 2)
    assert interval_bounds([0.05, 0.1, 0.5, 0.9, 0.95], 0.8) == (1, 3)


def test_too_few_validation_windows_give_no_interval(caplog: pytest.LogCaptureFixture) -> None:
    job, _, fitted = _fitted(level=0.999)
    assert calibrate_intervals(job, fitted) is None
    assert "too few for a finite conformal quantile" in caplog.text
