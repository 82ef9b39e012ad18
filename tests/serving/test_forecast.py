"""Serving: safe loading from a file, clear errors, forecast dates and JSON shape."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fincast.data.sources import load_sample
from fincast.serving.forecast import forecast_ticker, load_forecaster, next_trading_days


def test_next_trading_days_skip_weekends_and_exchange_holidays():
    assert next_trading_days(pd.Timestamp("2018-12-28"), 3) == [
        "2018-12-31",
        "2019-01-02",  # New Year's Day is an NYSE holiday
        "2019-01-03",
    ]
    assert next_trading_days(pd.Timestamp("2024-12-24"), 2, "XLON") == ["2024-12-27", "2024-12-30"]
    assert next_trading_days(pd.Timestamp("2018-12-28"), 2, None) == ["2018-12-31", "2019-01-01"]


def test_forecast_dates_follow_the_calendar_on_the_card(tiny_outcome):
    _, outcome = tiny_outcome
    assert outcome.card["calendar"] == "XNYS"
    assert [forecast.dates[0] for forecast in outcome.forecasts] == ["2019-01-02"] * 2
    forecaster = load_forecaster(str(outcome.model_path))
    forecaster.card = {**forecaster.card, "calendars": {"^GSPC": "XLON"}}
    bars = load_sample(["^GSPC"])["^GSPC"].loc[:"2018-12-24"]
    forecast = forecast_ticker(forecaster, bars, "^GSPC")
    assert forecast.dates[:2] == ["2018-12-27", "2018-12-28"]  # London: 25th and 26th shut


def test_saved_file_loads_and_forecasts_like_the_trained_model(tiny_outcome):
    _, outcome = tiny_outcome
    forecaster = load_forecaster(str(outcome.model_path))
    assert forecaster.card == outcome.card
    forecast = forecast_ticker(forecaster, load_sample(["^GSPC"])["^GSPC"], "^GSPC")
    np.testing.assert_allclose(forecast.values, outcome.forecasts[0].values, atol=1e-7)


def test_forecast_dict_is_json_ready(tiny_outcome):
    _, outcome = tiny_outcome
    payload = json.loads(json.dumps(outcome.forecasts[0].to_dict()))
    assert {"ticker", "as_of", "backend", "model_uri", "forecast"} <= set(payload)
    steps = [set(step) for step in payload["forecast"]]
    assert steps == [{"step", "date", "value", "price", "lower", "upper"}] * 3
    # the default interval: split conformal, scaled by the last sessions (lookback 10)
    assert payload["interval"] == {"level": 0.8, "method": "split", "scale_window": 10}


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.keras"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not a Keras model file"):
        load_forecaster(str(path))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_forecaster(str(tmp_path / "none.keras"))


def test_model_without_card_is_refused(tiny_outcome, tmp_path):
    _, outcome = tiny_outcome
    copy = tmp_path / "copy.keras"
    copy.write_bytes(outcome.model_path.read_bytes())
    with pytest.raises(ValueError, match="no fincast card entry 'features'"):
        load_forecaster(str(copy))


def test_unsafe_lambda_model_is_not_executed(tmp_path):
    import keras

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    path.with_suffix(".json").write_text(
        json.dumps({"features": [], "lookback": 1, "horizon": 1, "tickers": []})
    )
    with pytest.raises(ValueError, match="Cannot load the Keras model"):
        load_forecaster(str(path))
