"""Backtest page: the saved walk-forward results of the sidebar's task and model, and the
model's hold-out scores.

Nothing is recomputed here: ``fincast-backtest evaluation=walkforward`` saves the
tables under ``outputs/.../backtest/<ticker>/`` and logs them to its MLflow run.
"""

from __future__ import annotations

import streamlit as st

from fincast.dashboard import backtest_ui, run_filters, ui, views

settings = ui.setup("Backtest")
model_uri = ui.pick_model(settings)
st.caption(
    "Walk-forward results as `fincast-backtest evaluation=walkforward` saved them, for the "
    "task and model chosen in the sidebar; nothing is recomputed here."
)
result = backtest_ui.pick_result(settings, model_uri, run_filters.sidebar_task(model_uri))
if result is not None:
    views.show_backtest(result)
st.divider()
shared = ui.load_model(settings, model_uri) if model_uri else None
views.show_holdout(shared.forecaster.card if shared else None)
