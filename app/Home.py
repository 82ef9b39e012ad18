"""fincast dashboard: the registered model's next-days forecast for one ticker.

Run with ``streamlit run app/Home.py``. Settings come from the environment:
``FINCAST_MODEL_URI`` (default: the champion LSTM), ``FINCAST_TRACKING_URI``
(default ``sqlite:///mlflow.db`` under the working directory) and
``FINCAST_BACKEND`` (``auto``; ``KERAS_BACKEND`` wins).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pandas as pd
import streamlit as st

from fincast.backend import BackendError, select_backend

DEFAULT_MODEL_URI = "models:/fincast-returns-lstm@champion"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

st.set_page_config(page_title="fincast", layout="wide")
try:  # the backend is fixed before anything imports keras
    select_backend(os.environ.get("FINCAST_BACKEND", "auto"))
except BackendError as backend_error:
    st.error(str(backend_error))
    st.stop()

from fincast.data.loading import load_bars  # noqa: E402
from fincast.data.sources import MarketDataError, MarketDataUnavailable  # noqa: E402
from fincast.serving.charts import forecast_figure, recent_prices, scores_frame  # noqa: E402
from fincast.serving.forecast import Forecast, Forecaster, forecast_ticker, load_forecaster  # noqa: E402
from fincast.tracking.mlflow_store import TrackingError, resolve_uri  # noqa: E402


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def get_forecaster(model_uri: str, tracking_uri: str) -> Forecaster:
    """The loaded model and its card, one per (model URI, tracking URI)."""
    return load_forecaster(model_uri, tracking_uri)


@st.cache_data(max_entries=16, show_spinner="Loading market data...")
def get_bars(source: str, ticker: str, options_json: str, cache_dir: str) -> pd.DataFrame:
    """Validated daily bars of one ticker from the model's data source (as on its card)."""
    options = json.loads(options_json)
    return load_bars(source, [ticker], cache_dir=cache_dir, options=options)[ticker]


def one_line(error: BaseException) -> str:
    """An error message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def show_no_model(error: TrackingError, model_uri: str) -> None:
    """Empty state: no model registered yet, and how to get one."""
    st.info(
        f"No model is registered yet at `{model_uri}`. Train one with `make run` "
        "(or `fincast-train`), then reload this page, or enter the path of a saved "
        "`.keras` model in the sidebar."
    )
    st.caption(one_line(error))


def show_headline(forecast: Forecast) -> None:
    """Last price, as-of date, and the forecast price at the horizon's end."""
    change = forecast.prices[-1] / forecast.last_price - 1.0
    last, as_of, ahead = st.columns(3)
    last.metric("Last price", f"{forecast.last_price:,.2f}")
    as_of.metric("As of", forecast.as_of)
    ahead.metric(
        f"Forecast for {forecast.dates[-1]}", f"{forecast.prices[-1]:,.2f}", delta=f"{change:+.2%}"
    )


def show_forecast_table(forecast: Forecast) -> None:
    """The per-step forecast with a CSV download."""
    frame = forecast.to_frame()
    st.subheader("Forecast")
    st.dataframe(
        frame,
        column_config={
            "log_return": st.column_config.NumberColumn("log return", format="%.6f"),
            "price": st.column_config.NumberColumn("price", format="%.2f"),
        },
    )
    safe_ticker = re.sub(r"[^A-Za-z0-9._-]", "", forecast.ticker) or "ticker"
    st.download_button(
        "Download CSV",
        data=frame.to_csv(),
        mime="text/csv",
        file_name=f"fincast_{safe_ticker}_{forecast.as_of}.csv",
    )


def show_model_card(card: dict[str, Any], forecast: Forecast) -> None:
    """Backend, data range and held-out scores next to the baselines."""
    with st.expander("Model card"):
        st.markdown(
            f"- **Model:** `{card.get('model', 'unknown')}` from `{forecast.model_uri}`\n"
            f"- **Trained on backend:** `{card.get('backend', 'unknown')}` "
            f"(serving on `{forecast.backend}`)\n"
            f"- **Tickers:** {', '.join(f'`{name}`' for name in card.get('tickers', []))}; "
            f"data source `{card.get('data_source', 'unknown')}`\n"
            f"- **Features:** {', '.join(f'`{name}`' for name in card.get('features', []))}; "
            f"lookback {card.get('lookback')} days, horizon {card.get('horizon')} days\n"
            f"- **Training data:** {card.get('train_start', '?')} to {card.get('train_end', '?')}\n"
            f"- **Held-out test:** {card.get('test_start', '?')} to {card.get('test_end', '?')}"
        )
        scores = scores_frame(card)
        if scores.empty:
            st.caption("This model card holds no held-out scores.")
            return
        st.dataframe(scores)
        st.caption(
            "Scores of forecast log returns on the held-out period, all on the same windows. "
            "mae_vs_naive below 1 beats the random-walk (naive) baseline; hit rate is the "
            "share of correctly forecast directions."
        )


def main() -> None:
    """Render the page."""
    st.title("fincast")
    tracking_uri = resolve_uri(os.environ.get("FINCAST_TRACKING_URI") or DEFAULT_TRACKING_URI)
    default_uri = os.environ.get("FINCAST_MODEL_URI") or DEFAULT_MODEL_URI
    model_uri = st.sidebar.text_input(
        "Model URI", value=default_uri, help="`models:/name@alias` or the path of a `.keras` file"
    ).strip()
    if not model_uri:
        st.info("Enter a model URI in the sidebar: `models:/name@alias` or a `.keras` file.")
        return
    try:
        forecaster = get_forecaster(model_uri, tracking_uri)
    except TrackingError as error:
        show_no_model(error, model_uri)
        return
    except (ValueError, OSError) as error:
        st.error(one_line(error))
        return
    card = forecaster.card
    tickers = [str(name) for name in card.get("tickers", [])]
    if not tickers:
        st.error(f"Model {model_uri!r} names no tickers in its card; retrain with fincast-train.")
        return
    ticker = st.sidebar.selectbox("Ticker", tickers) or tickers[0]
    days = st.sidebar.slider(
        "History shown (trading days)", min_value=20, max_value=2500, value=250, step=10
    )
    try:
        bars = get_bars(
            str(card.get("data_source", "sample")),
            ticker,
            json.dumps(card.get("data_options", {}), sort_keys=True),
            str(card.get("cache_dir", "data/cache")),
        )
        forecast = forecast_ticker(forecaster, bars, ticker)
    except (MarketDataError, MarketDataUnavailable, ValueError, OSError) as error:
        st.error(one_line(error))
        return
    show_headline(forecast)
    history = recent_prices(bars, days, str(card.get("price", "adj_close")))
    st.plotly_chart(forecast_figure(history, forecast))
    show_forecast_table(forecast)
    show_model_card(card, forecast)


main()
