"""Data page: cached and bundled series with their checks, a Yahoo refresh, your own CSV."""

from __future__ import annotations

import streamlit as st

from fincast.dashboard import data_ui, ui

settings = ui.setup("Data")
model_uri = ui.pick_model(settings)
st.subheader("Series")
data_ui.show_inventory(settings)
st.subheader("Refresh from Yahoo Finance")
data_ui.refresh_form(settings)
st.subheader("Forecast your own series")
data_ui.upload_forecast(settings, model_uri)
