"""fincast dashboard: ``fincast-app`` (``make app``; ``streamlit run app/Home.py`` in the checkout).

``fincast-app`` passes the security settings (loopback address, XSRF, a 5 MB upload
limit, no usage statistics, no Deploy button) as flags, so they hold from any working
directory; ``.streamlit/config.toml`` holds the same values for a plain ``streamlit run``
from the checkout.

Pages: Forecast (the default), Backtest, Universe (a universe's forecasts ranked and its
walk-forward scores), Runs and Data, each a thin script under ``views/`` over
``fincast.dashboard``. (Not ``pages/``: with a folder of that name beside
the entry script, Streamlit serves a fresh server's first request for ``/backtest``
from its legacy folder navigation and never runs this file.)

Settings come from the environment: ``FINCAST_TRACKING_URI`` (default
``sqlite:///mlflow.db`` in the working directory), ``FINCAST_MODEL_URI`` (default: the
registered champion), ``FINCAST_EXPERIMENT``, ``FINCAST_CACHE_DIR``, ``FINCAST_MODELS_DIR``,
``FINCAST_BACKTEST_DIR``, ``FINCAST_MLFLOW_UI_URL`` and ``FINCAST_BACKEND`` (``auto``;
``KERAS_BACKEND`` wins).
"""

from __future__ import annotations

import streamlit as st

PAGES = [
    st.Page("views/forecast.py", title="Forecast", icon=":material/trending_up:", default=True),
    st.Page(
        "views/backtest.py", title="Backtest", icon=":material/fact_check:", url_path="backtest"
    ),
    st.Page("views/universe.py", title="Universe", icon=":material/public:", url_path="universe"),
    st.Page("views/runs.py", title="Runs", icon=":material/table_chart:", url_path="runs"),
    st.Page("views/data.py", title="Data", icon=":material/database:", url_path="data"),
]

st.navigation(PAGES).run()
