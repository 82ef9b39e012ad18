"""The Universe page's content: a universe's latest forecasts ranked, and its saved scores.

Two sources, both read from MLflow runs, never recomputed:

- a training run's ``forecast/next_days.csv`` (:func:`fincast.training.record.record_training`):
  one row per ticker and step (``step, date, <target>[, price, q...], ticker``), ranked
  here by the task's horizon value (the summed daily log returns for returns, the last
  step for volatility: :attr:`fincast.evaluation.tasks.Task.horizon_value`);
- a walk-forward backtest run's ``backtest/universe/`` folder, written by
  :func:`fincast.evaluation.universe.save_universe` and read back by its
  ``load_universe``: ``summary.json``, ``ic.csv``, ``equity.csv``, ``per_ticker.csv``.

No Streamlit here (:mod:`fincast.dashboard.universe_ui` lays it out); every data-derived
string that reaches a Plotly figure is HTML-escaped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fincast.dashboard.charts import LAYOUT, plain
from fincast.dashboard.formatting import Column, decimals, p_value, percent, significant
from fincast.evaluation.tasks import task_named
from fincast.evaluation.universe import FOLDER, SUMMARY

FORECASTS_FILE = "forecast/next_days.csv"
UNIVERSE_FOLDER = f"backtest/{FOLDER}"  # where fincast-backtest logs the universe scores
SUMMARY_FILE = SUMMARY
UNKNOWN_SECTOR = "unknown"
VALUE = "forecast"  # the ranked table's column of horizon values


def previous_session(day: str | pd.Timestamp, calendar: str | None) -> str:
    """The session of exchange ``calendar`` before ``day`` (a weekday when ``None``), ISO.

    A forecast's first date is the session after its ``as_of``
    (:func:`fincast.serving.forecast.next_trading_days`), so this recovers ``as_of``.

    >>> previous_session("2019-01-02", "XNYS"), previous_session("2019-01-07", None)
    ('2018-12-31', '2019-01-04')
    """
    first = pd.Timestamp(day).normalize()
    if not calendar:
        return (first - pd.offsets.BDay(1)).date().isoformat()
    from fincast.data.calendars import sessions_between

    before = sessions_between(calendar, first - pd.Timedelta(days=15), first - pd.Timedelta(days=1))
    return before[-1].date().isoformat() if len(before) else first.date().isoformat()


def horizon_label(task: str, horizon: int) -> str:
    """The ranked value's header, with its unit.

    >>> horizon_label("returns", 5)
    '5-day log return (%)'
    """
    return f"{task_named(task).horizon_label.format(horizon=horizon)} (%)"


def value_column(next_days: pd.DataFrame, target: str | None) -> str:
    """The column holding the forecast values (``target``, else the first numeric one).

    Raises:
        ValueError: no numeric column besides ``step``, naming the columns found.
    """
    if target and target in next_days:
        return target
    skip = {"step", "price"}
    numeric = [
        str(name)
        for name in next_days.columns
        if str(name) not in skip
        and not str(name).startswith("q")
        and pd.api.types.is_numeric_dtype(next_days[name])
    ]
    if not numeric:
        raise ValueError(
            f"{FORECASTS_FILE} holds no forecast column (columns: {', '.join(next_days.columns)})."
        )
    return numeric[0]


def ranked_forecasts(
    next_days: pd.DataFrame,
    *,
    task: str,
    sectors: dict[str, str],
    target: str | None = None,
    calendar: str | None = "XNYS",
) -> pd.DataFrame:
    """One row per ticker, highest horizon value first: rank, ticker, sector, as_of, dates.

    Args:
        next_days: ``forecast/next_days.csv`` as read (one row per ticker and step).
        task: the run's task (its :attr:`~fincast.evaluation.tasks.Task.horizon_value`
            turns the steps into one value: the sum for returns, the last for volatility).
        sectors: ticker -> sector (``""`` where unknown).
        target: the forecast column (``task.target``); the first numeric column if absent.
        calendar: the run's exchange calendar, to recover ``as_of`` when the file lacks it.
    """
    column = value_column(next_days, target)
    ordered = next_days.sort_values(["ticker", "step"] if "step" in next_days else ["ticker"])
    rows = []
    for ticker, steps in ordered.groupby("ticker", sort=False):
        values = steps[column].to_numpy(dtype="float64")[np.newaxis, :]
        first = str(steps["date"].iloc[0])
        as_of = steps["as_of"].iloc[0] if "as_of" in steps else previous_session(first, calendar)
        rows.append(
            {
                "ticker": str(ticker),
                "sector": sectors.get(str(ticker)) or UNKNOWN_SECTOR,
                "as_of": str(as_of),
                "through": str(steps["date"].iloc[-1]),
                VALUE: float(task_named(task).horizon_value(values)[0]),
            }
        )
    table = pd.DataFrame(rows, columns=["ticker", "sector", "as_of", "through", VALUE])
    table = table.sort_values(VALUE, ascending=False, kind="stable", ignore_index=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def forecast_columns(task: str, horizon: int) -> dict[str, Column]:
    """Headers and formats of :func:`ranked_forecasts`' table."""
    places = 3 if task_named(task).directional else 2  # a 5-day return of 0.170%
    return {
        "as_of": Column("as of (last data day)", str),
        "through": Column("through (last forecast day)", str),
        VALUE: Column(horizon_label(task, horizon), lambda value: percent(value, places)),
    }


def in_sectors(table: pd.DataFrame, chosen: list[str]) -> pd.DataFrame:
    """The rows of ``table`` whose ``sector`` is one of ``chosen`` (all rows when empty)."""
    return table if not chosen else table[table["sector"].isin(chosen)]


def summary_line(summary: dict[str, Any]) -> str:
    """Task, model, tickers, horizon and the baseline the losses are compared with.

    >>> summary_line({"task": "returns", "model": "lstm", "tickers": 9, "horizon": 5,
    ...               "baseline": "naive"})
    'returns task, lstm model, 9 tickers, 5-day horizon, losses against naive'
    """
    parts = [
        f"{summary['task']} task" if summary.get("task") else "",
        f"{summary['model']} model" if summary.get("model") else "",
        f"{summary['tickers']} tickers" if summary.get("tickers") is not None else "",
        f"{summary['horizon']}-day horizon" if summary.get("horizon") else "",
        f"losses against {summary['baseline']}" if summary.get("baseline") else "",
    ]
    return ", ".join(part for part in parts if part)


def per_ticker_columns(baseline: str) -> dict[str, Column]:
    """Headers and formats of ``per_ticker.csv``: losses, ratio, p-values (short)."""
    return {
        "windows": Column("test origins", decimals(0)),
        "loss_model": Column("mean loss, model", significant),
        "loss_baseline": Column(f"mean loss, {baseline}", significant),
        "loss_ratio": Column(f"loss / {baseline}'s (ratio)", significant),
        "dm_p": Column("DM p-value", p_value),
        "p_bh": Column("p-value, BH-adjusted", p_value),
        "p_holm": Column("p-value, Holm-adjusted", p_value),
    }


def left_out_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The tickers left out of the universe scores, with the reason for each."""
    left = summary.get("left_out") or {}
    return pd.DataFrame(
        {"ticker": [str(name) for name in left], "reason": [str(why) for why in left.values()]}
    )


PORTFOLIO_COLUMNS: dict[str, Column] = {
    "annual_return": Column("annual return, before costs (%)", percent),
    "net_annual_return": Column("annual return, after costs (%)", percent),
    "annual_volatility": Column("annual volatility, after costs (%)", lambda v: percent(v, 1)),
    "sharpe": Column("Sharpe after costs (annual, ratio)", lambda value: significant(value, 3)),
    "max_drawdown": Column("max drawdown (%)", percent),
    "mean_turnover": Column("mean turnover per rebalance", lambda value: significant(value, 3)),
    "rebalances": Column("rebalances", decimals(0)),
    "skipped": Column("rebalances skipped", decimals(0)),
}


def portfolio_table(portfolios: dict[str, Any]) -> pd.DataFrame:
    """The long-short book's headline figures as a one-row table (known columns first)."""
    figures = dict(portfolios.get("long_short") or {})
    figures.pop("periods_per_year", None)  # said in the caption
    order = [name for name in PORTFOLIO_COLUMNS if name in figures]
    order += [name for name in figures if name not in order]
    table = pd.DataFrame([figures], index=pd.Index(["long-short"], name="book"))
    return table[order]


def ic_figure(ic: pd.DataFrame) -> go.Figure:
    """The per-date IC and rank IC, with a zero line."""
    figure = go.Figure()
    for column, name in (("ic", "IC (Pearson)"), ("rank_ic", "rank IC (Spearman)")):
        if column in ic:
            figure.add_trace(
                go.Scatter(x=ic.index, y=ic[column].to_numpy(), mode="lines", name=name)
            )
    figure.add_hline(y=0.0, line={"color": "grey", "width": 1})
    figure.update_layout(
        title="Information coefficient per date",
        xaxis_title="date",
        yaxis={"title": "correlation", "range": [-1, 1]},
        **LAYOUT,
    )
    return figure


def quantile_figure(equity: pd.DataFrame) -> go.Figure:
    """Growth of 1 for each quantile portfolio and the long-short book (gross and net)."""
    figure = go.Figure()
    styles = {
        "long_short": {"width": 3, "color": "black"},
        "long_short_net": {"width": 3, "color": "black", "dash": "dash"},
    }
    for column in equity.columns:
        name = str(column)
        label = {"long_short": "long-short", "long_short_net": "long-short, after costs"}
        figure.add_trace(
            go.Scatter(
                x=equity.index,
                y=equity[column].to_numpy(),
                mode="lines",
                name=plain(label.get(name, name)),
                line=styles.get(name, {"width": 1.5}),
            )
        )
    figure.update_layout(
        title="Quantile portfolios (growth of 1; q1 = lowest forecasts)",
        xaxis_title="date",
        yaxis_title="wealth",
        **LAYOUT,
    )
    return figure
