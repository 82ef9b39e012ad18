"""Universe page: a universe's latest forecasts ranked, and its walk-forward scores.

Ranked forecasts come from a training run's ``forecast/next_days.csv``; per-ticker
verdicts, the IC series and the quantile portfolios from a walk-forward backtest run's
``backtest/universe/`` files. Both follow the sidebar's task; nothing is recomputed.
"""

from __future__ import annotations

import streamlit as st

from fincast.dashboard import run_filters, ui, universe_ui

settings = ui.setup("Universe")
model_uri = ui.pick_model(settings)
st.caption(
    "Several tickers at once: the latest forecasts ranked, and how the model's ranking "
    "held up in a walk-forward backtest over the universe, as the runs saved them."
)
universe_ui.show_page(settings, model_uri, run_filters.sidebar_task(model_uri))
