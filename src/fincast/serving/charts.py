"""Presentation helpers for the dashboard: price history, forecast figure, score table.

Plain functions over fincast's own objects, so the Streamlit pages stay thin and
the figures can be built (and tested) without Streamlit.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from fincast.data.features import price_series
from fincast.serving.forecast import Forecast

HISTORY_COLOUR = "#1f77b4"
FORECAST_COLOUR = "#ff7f0e"
SCORE_COLUMNS = ("mae", "rmse", "hit_rate", "mae_vs_naive")


def recent_prices(bars: pd.DataFrame, days: int, price: str = "adj_close") -> pd.Series:
    """The last ``days`` values of the modelled price (``adj_close``, else ``close``).

    Raises:
        ValueError: ``days`` is not positive.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1. Received: days={days}")
    return price_series(bars, price).iloc[-days:]


def forecast_figure(history: pd.Series, forecast: Forecast) -> go.Figure:
    """Close history (solid) and the forecast price path (dashed), joined at the last close."""
    path_dates = pd.to_datetime([forecast.as_of, *forecast.dates])
    path_prices = [forecast.last_price, *forecast.prices]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=history.index,
            y=history.to_numpy(),
            mode="lines",
            name=f"{forecast.ticker} close",
            line={"color": HISTORY_COLOUR, "width": 2},
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=path_dates,
            y=path_prices,
            mode="lines+markers",
            name="forecast",
            line={"color": FORECAST_COLOUR, "width": 2, "dash": "dash"},
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f}<extra>forecast</extra>",
        )
    )
    figure.update_layout(
        title=f"{forecast.ticker}: last {len(history)} days, {len(forecast.prices)}-day forecast",
        xaxis_title="date",
        yaxis_title="price",
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return figure


def scores_frame(card: dict[str, Any]) -> pd.DataFrame:
    """Held-out scores of the model and its baselines from a model card, model first.

    >>> card = {"test_scores": {"naive": {"mae": 2.0}, "model": {"mae": 1.0}}}
    >>> scores_frame(card)["mae"].to_dict()
    {'model': 1.0, 'naive': 2.0}
    """
    scores = card.get("test_scores") or {}
    table = pd.DataFrame.from_dict(scores, orient="index")
    table.index.name = "forecaster"
    order = sorted(table.index, key=lambda name: (name != "model", str(name)))
    columns = [name for name in SCORE_COLUMNS if name in table.columns]
    return table.loc[order, columns] if columns else table.loc[order]
