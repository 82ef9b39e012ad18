"""Presentation helpers for the dashboard: price history, forecast, backtest figures, scores.

Plain functions over fincast's own objects, so the Streamlit pages stay thin and
the figures can be built (and tested) without Streamlit. Plotly reads a few HTML
tags in its text, so every data-derived string (a ticker, a forecaster's name) is
HTML-escaped before it becomes a title, a trace name or a legend entry.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from fincast.bands import band_label
from fincast.data.features import price_series
from fincast.serving.forecast import Forecast

HISTORY_COLOUR = "#1f77b4"
FORECAST_COLOUR = "#ff7f0e"
BAND_COLOUR = "rgba(255, 127, 14, 0.18)"
FOLD_DASHES = ("dash", "dot", "dashdot", "longdash", "longdashdot", "solid")
FOLD_SYMBOLS = ("square", "diamond", "triangle-up", "x", "cross", "star")
SCORE_COLUMNS = ("mae", "rmse", "hit_rate", "mae_vs_naive")
LAYOUT: dict[str, Any] = {
    "hovermode": "x unified",
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
}


def plain(text: object) -> str:
    """``text`` made safe for Plotly's HTML-like text rendering.

    >>> plain("<img src=x>")
    '&lt;img src=x&gt;'
    """
    return html.escape(str(text), quote=False)


def recent_prices(bars: pd.DataFrame, days: int, price: str = "adj_close") -> pd.Series:
    """The last ``days`` values of the modelled price (``adj_close``, else ``close``).

    Raises:
        ValueError: ``days`` is not positive.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1. Received: days={days}")
    return price_series(bars, price).iloc[-days:]


def _band_traces(forecast: Forecast, bands: pd.DataFrame, columns: tuple[str, str, float]) -> list:
    low, high, coverage = columns
    dates = pd.to_datetime([forecast.as_of, *forecast.dates])
    upper = [forecast.last_price, *bands[high]]
    lower = [forecast.last_price, *bands[low]]
    return [
        go.Scatter(
            x=dates, y=upper, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
        ),
        go.Scatter(
            x=dates,
            y=lower,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND_COLOUR,
            name=band_name(coverage),
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f}<extra>band</extra>",
        ),
    ]


def band_name(coverage: float) -> str:
    """The band's legend entry: its level and how it was made.

    >>> band_name(0.8)
    '80% band, cumulative-return quantiles (normal approx.)'
    """
    return f"{coverage:.0%} band, cumulative-return quantiles (normal approx.)"


def forecast_figure(
    history: pd.Series,
    forecast: Forecast,
    bands: pd.DataFrame | None = None,
    band: tuple[str, str, float] | None = None,
) -> go.Figure:
    """Price history (solid), the forecast path (dashed) and its interval band when given.

    The forecast path and the band start at the last close (``forecast.last_price`` on
    ``forecast.as_of``), the history's last point, so the forecast line joins the history.

    Args:
        history: recent prices, indexed by date.
        forecast: the forecast; its path is joined to the last price.
        bands: price quantiles per step (:func:`fincast.dashboard.content.forecast_bands`).
        band: the lower and upper column of ``bands`` and their nominal coverage.
    """
    ticker = plain(forecast.ticker)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=history.index,
            y=history.to_numpy(),
            mode="lines",
            name=f"{ticker} price",
            line={"color": HISTORY_COLOUR, "width": 2},
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f}<extra></extra>",
        )
    )
    if bands is not None and band is not None:
        figure.add_traces(_band_traces(forecast, bands, band))
    figure.add_trace(
        go.Scatter(
            x=pd.to_datetime([forecast.as_of, *forecast.dates]),
            y=[forecast.last_price, *(forecast.prices or [])],
            mode="lines+markers",
            name="forecast",
            line={"color": FORECAST_COLOUR, "width": 2, "dash": "dash"},
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f}<extra>forecast</extra>",
        )
    )
    title = f"{ticker}: last {len(history)} days, {len(forecast.dates)}-day forecast"
    if bands is not None and band is not None:
        low, high = (float(name[1:]) for name in band[:2])
        title += f"<br><sup>{plain(band_label(low, high))}</sup>"
    figure.update_layout(
        title=title,
        xaxis_title="date",
        yaxis_title="price",
        **LAYOUT,
    )
    return figure


def value_figure(history: pd.Series, forecast: Forecast, target: str) -> go.Figure:
    """A non-price forecast (e.g. realised volatility) after its recent history."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=history.index,
            y=history.to_numpy(),
            mode="lines",
            name=f"{plain(forecast.ticker)} {plain(target)} (past 20 days)",
            line={"color": HISTORY_COLOUR, "width": 2},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=pd.to_datetime(forecast.dates),
            y=forecast.values,
            mode="lines+markers",
            name="forecast",
            line={"color": FORECAST_COLOUR, "width": 2, "dash": "dash"},
            hovertemplate="%{x|%Y-%m-%d}: %{y:.1%}<extra>forecast</extra>",
        )
    )
    figure.update_layout(
        title=f"{plain(forecast.ticker)}: {plain(target)}, {len(forecast.dates)}-day forecast",
        xaxis_title="date",
        yaxis={"title": f"{plain(target)} (%)", "tickformat": ".1%"},
        **LAYOUT,
    )
    return figure


def price_figure(prices: pd.Series, title: str) -> go.Figure:
    """A plain price line (Data page)."""
    figure = go.Figure(go.Scatter(x=prices.index, y=prices.to_numpy(), mode="lines", name="price"))
    figure.update_layout(title=plain(title), xaxis_title="date", yaxis_title="price", **LAYOUT)
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


def fold_losses_figure(folds: pd.DataFrame) -> go.Figure:
    """Mean loss per walk-forward fold, one line per forecaster (columns ``loss_<name>``).

    The fold axis has one integer tick per fold. The model is a thick solid line drawn
    last (on top); each baseline has its own dash pattern and marker symbol, so lines that
    lie on one another stay apart in the legend and on hover.
    """
    figure = go.Figure()
    columns = [name for name in folds.columns if str(name).startswith("loss_")]
    baselines = [name for name in columns if name != "loss_model"]
    ticks = [int(fold) for fold in folds.index]
    for number, column in enumerate([*baselines, *[c for c in columns if c == "loss_model"]]):
        model = column == "loss_model"
        style = number % len(FOLD_DASHES)
        figure.add_trace(
            go.Scatter(
                x=ticks,
                y=folds[column].to_numpy(),
                mode="lines+markers",
                name=plain(str(column).removeprefix("loss_")),
                line={"width": 4, "color": "black"}
                if model
                else {"width": 1.5, "dash": FOLD_DASHES[style]},
                marker={"symbol": "circle" if model else FOLD_SYMBOLS[style], "size": 9},
            )
        )
    figure.update_layout(
        title="Loss per fold",
        xaxis={"title": "fold", "tickmode": "array", "tickvals": ticks, "ticktext": ticks},
        yaxis={"title": "mean loss", "exponentformat": "e"},
        **LAYOUT,
    )
    return figure


def calibration_figure(calibration: pd.DataFrame) -> go.Figure:
    """Empirical against nominal interval coverage, one line per forecaster, with the diagonal.

    Args:
        calibration: columns ``forecaster``, ``nominal`` and ``empirical`` (shares in 0..1).
    """
    figure = go.Figure(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot", "color": "grey"}
        )
    )
    for name, group in calibration.groupby("forecaster", sort=False):
        group = group.sort_values("nominal")
        figure.add_trace(
            go.Scatter(
                x=group["nominal"], y=group["empirical"], mode="lines+markers", name=plain(name)
            )
        )
    figure.update_layout(
        title="Interval calibration",
        xaxis={"title": "nominal coverage", "range": [0, 1], "tickformat": ".0%"},
        yaxis={"title": "empirical coverage", "range": [0, 1], "tickformat": ".0%"},
        **LAYOUT,
    )
    return figure


def equity_figure(equity: pd.DataFrame) -> go.Figure:
    """Growth of 1 unit for each strategy column (``buy_and_hold`` included)."""
    figure = go.Figure()
    for column in equity.columns:
        dashed = {"dash": "dash"} if column == "buy_and_hold" else {}
        figure.add_trace(
            go.Scatter(
                x=equity.index,
                y=equity[column].to_numpy(),
                mode="lines",
                name=plain(str(column).replace("_", " ")),
                line=dashed,
            )
        )
    figure.update_layout(
        title="Equity curve (growth of 1, after costs)",
        xaxis_title="date",
        yaxis_title="wealth",
        **LAYOUT,
    )
    return figure
