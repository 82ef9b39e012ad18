"""Forecast page: pick a task, model and ticker; see the forecast, its table and the model card."""

from __future__ import annotations

import json
import time

import streamlit as st

from fincast.dashboard import forecast_inputs, ui, views
from fincast.data.cache import cached_tickers
from fincast.data.sources import MarketDataError, MarketDataUnavailable
from fincast.serving.forecast import forecast_ticker

started = time.perf_counter()
settings = ui.setup("Forecast")  # fixes the Keras backend before any model is loaded
model_uri = ui.pick_model(settings)
shared = ui.load_model(settings, model_uri) if model_uri else None
if shared is None:
    if not model_uri:
        ui.no_model_choices(settings)
    ui.quick_train_panel(settings)
    st.stop()

card = shared.forecaster.card
tickers = forecast_inputs.forecast_choices(
    card, cached_tickers(settings.cache_dir), ui.bundled_tickers()
)
choices = {choice.ticker: choice for choice in tickers}
ticker = ui.remembered_select(
    "Ticker",
    list(choices),
    "fincast.ticker",
    format_func=lambda name: forecast_inputs.choice_label(choices[name], card),
    help="The model's own tickers first, then every cached and bundled series.",
)
days = st.sidebar.slider("History shown (trading days)", 20, 2500, 250, step=10)
choice = choices[ticker]
try:
    bars = ui.bars_of(
        choice.source,
        ticker,
        json.dumps(choice.options, sort_keys=True),
        settings.cache_dir,
        ui.cache_stamp(settings.cache_dir, ticker),
    )
    with shared.lock:  # one model object serves every session
        forecast = forecast_ticker(shared.forecaster, bars, ticker)
except (MarketDataError, MarketDataUnavailable, ValueError, OSError) as failure:
    ui.error(failure)
    st.stop()
ui.warnings(
    forecast_inputs.untrained_warning(card, ticker),
    forecast_inputs.staleness_warning(bars, ticker, card),
)
views.show_forecast(forecast, card, bars, days)
views.show_model_card(card, forecast.model_uri, forecast.backend)
views.show_timing(ticker, time.perf_counter() - started, forecast.backend)
