"""Streamlit sections the pages compose: forecast, model card, backtest result, data tables.

Each function lays out tables and figures that :mod:`fincast.dashboard.content`,
:mod:`fincast.dashboard.backtests` and :mod:`fincast.dashboard.datasets` computed, with
data-derived text escaped (see :func:`fincast.dashboard.content.escape_markdown`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from fincast.dashboard.backtests import (
    BacktestResult,
    calibration_table,
    split_scores,
    verdict_parts,
)
from fincast.dashboard.charts import (
    calibration_figure,
    equity_figure,
    fold_losses_figure,
    forecast_figure,
    recent_prices,
    scores_frame,
    value_figure,
)
from fincast.dashboard.content import (
    card_facts,
    csv_filename,
    escape_markdown,
    forecast_bands,
    forecast_csv,
    forecast_table,
    headline,
    is_price_task,
    outer_band,
    value_table,
)
from fincast.evaluation.tasks import task_named


def show_forecast(forecast: Any, card: dict[str, Any], bars: pd.DataFrame, days: int) -> None:
    """Headline numbers, the chart (intervals for a quantile model), the table and its CSV.

    A return model's forecast is shown as a price path after the last ``days`` prices;
    any other task's (e.g. realised volatility) as its own values after their history.
    """
    prices = forecast.prices
    if not is_price_task(card) or prices is None:
        show_values(forecast, card, bars, days)
        return
    history = recent_prices(bars, days, str(card.get("price", "adj_close")))

    bands = forecast_bands(forecast, card)
    band = outer_band(bands) if bands is not None else None
    change = prices[-1] / forecast.last_price - 1.0
    last, as_of, ahead = st.columns(3)
    last.metric("Last price", f"{forecast.last_price:,.2f}")
    as_of.metric("As of", forecast.as_of)
    ahead.metric(f"Forecast for {forecast.dates[-1]}", f"{prices[-1]:,.2f}", delta=f"{change:+.2%}")
    st.plotly_chart(forecast_figure(history, forecast, bands, band), key="forecast_chart")
    if band is None:
        st.caption("Point forecast: this model has no quantile output, so no interval is drawn.")
    table = forecast_table(forecast, bands)
    st.subheader("Forecast table")
    st.dataframe(
        table,
        column_config={
            "log_return": st.column_config.NumberColumn("log return", format="%.6f"),
            "price": st.column_config.NumberColumn("price", format="%.2f"),
        },
    )
    download(table, forecast)


def download(table: pd.DataFrame, forecast: Any) -> None:
    """The forecast table as a CSV download."""
    st.download_button(
        "Download CSV",
        data=forecast_csv(table),
        mime="text/csv",
        file_name=csv_filename(forecast),
        key="download_forecast",
    )


def show_values(forecast: Any, card: dict[str, Any], bars: pd.DataFrame, days: int) -> None:
    """A non-price forecast: the values per step after their recent history, and the table."""
    target = str(card.get("target", "value"))
    as_of, ahead = st.columns(2)
    as_of.metric("As of", forecast.as_of)
    ahead.metric(f"{target} forecast for {forecast.dates[-1]}", f"{forecast.values[-1]:.4g}")
    task = task_named(str(card.get("task", "returns")))
    history = task.history(bars, days) if task.history else pd.Series(dtype=float)
    st.plotly_chart(value_figure(history, forecast, target), key="forecast_chart")
    table = value_table(forecast, card)
    st.subheader("Forecast table")
    st.dataframe(table)
    download(table, forecast)


def show_model_card(card: dict[str, Any], model_uri: str, serving_backend: str) -> None:
    """Backend, data range and the held-out scores next to the baselines'."""
    with st.expander("Model card", expanded=True):
        st.dataframe(card_facts(card, model_uri, serving_backend))
        sentence = headline(card)
        if sentence:
            st.write(escape_markdown(sentence))
        scores = scores_frame(card)
        if scores.empty:
            st.caption("This model card holds no held-out scores.")
            return
        st.dataframe(scores)
        st.caption(
            "Held-out scores of forecast log returns, model and baselines on the same "
            "windows; mae_vs_naive below 1 beats the random walk. No significance test "
            "here: the Backtest page shows walk-forward results with Diebold-Mariano verdicts."
        )


def show_verdicts(result: BacktestResult) -> None:
    """Diebold-Mariano verdicts of the model against each baseline, in plain words."""
    st.subheader("Is the model better than the baselines?")
    if not result.verdicts:
        st.caption("This backtest holds no model-vs-baseline tests (no model was backtested).")
        return
    for line in result.verdicts:
        head, details = verdict_parts(line)
        st.markdown(f"- {escape_markdown(head)}")
        if details:
            st.caption(escape_markdown(f"per step: {details}"))
    test = str(result.meta.get("dm_test_name") or "Diebold-Mariano, HLN-corrected")
    st.caption(
        escape_markdown(
            f"Test: {test}, on the same folds. 'Better' is claimed only where p < 0.05 and "
            "the model's mean loss is lower."
        )
    )
    mcs = result.meta.get("mcs")
    if mcs:
        confidence = f"{1 - float(mcs['size']):.0%}"
        members = ", ".join(str(name) for name in mcs.get("included", []))
        st.markdown(escape_markdown(f"Model confidence set (Hansen, {confidence}): {members}"))
    if result.meta.get("spa_p") is not None:
        spa = f"{float(result.meta['spa_p']):.2g}"
        st.markdown(escape_markdown(f"SPA test (H0: no baseline beats the model): p={spa}"))


def show_backtest(result: BacktestResult) -> None:
    """Every table of a saved backtest: verdicts, overall and per-fold scores, plots."""
    st.write(escape_markdown(result.summary()))
    show_verdicts(result)
    if result.scores is not None:
        metrics, tests = split_scores(result.scores)
        st.subheader("Overall scores")
        st.dataframe(metrics)
        if not tests.empty:
            st.caption("Diebold-Mariano p-values of the model against each baseline, per step.")
            st.dataframe(tests)
    if result.folds is not None:
        st.subheader("Per fold")
        st.plotly_chart(fold_losses_figure(result.folds), key="fold_chart")
        st.dataframe(result.folds)
    st.subheader("Interval calibration")
    calibration = calibration_table(result.scores) if result.scores is not None else None
    if calibration is None or calibration.empty:
        st.caption("No quantile forecasts in this backtest, so no intervals to calibrate.")
    else:
        st.plotly_chart(calibration_figure(calibration), key="calibration_chart")
        st.dataframe(calibration, hide_index=True)
    if result.equity is not None:
        st.subheader("Trading the forecast")
        st.plotly_chart(equity_figure(result.equity), key="equity_chart")
    if result.trading is not None:
        st.dataframe(result.trading)


def show_holdout(card: dict[str, Any] | None) -> None:
    """The hold-out scores from the model card (what there is without a backtest)."""
    st.subheader("Hold-out scores from the model card")
    scores = scores_frame(card or {})
    if scores.empty:
        st.caption("The chosen model's card holds no hold-out scores.")
        return
    sentence = headline(card or {})
    if sentence:
        st.write(escape_markdown(sentence))
    st.dataframe(scores)


def show_timing(ticker: str, seconds: float, backend: str) -> None:
    """How long the server took to compute this page (last on the page)."""
    st.caption(escape_markdown(f"{ticker}: page computed in {seconds * 1000:.0f} ms ({backend})"))
