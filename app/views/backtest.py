"""Backtest page: saved walk-forward results (MLflow run or folder) and the model's hold-out scores.

Nothing is recomputed here: ``fincast-backtest evaluation=walkforward`` saves the
tables under ``outputs/.../backtest/<ticker>/`` and logs them to its MLflow run.
"""

from __future__ import annotations

import streamlit as st

from fincast.dashboard import backtest_ui, ui, views

settings = ui.setup("Backtest")
model_uri = ui.pick_model(settings)
st.caption(
    "Walk-forward results as `fincast-backtest evaluation=walkforward` saved them; "
    "nothing is recomputed here."
)
result = backtest_ui.pick_result(settings, model_uri)
if result is not None:
    views.show_backtest(result)
st.divider()
shared = ui.load_model(settings, model_uri) if model_uri else None
views.show_holdout(shared.forecaster.card if shared else None)
