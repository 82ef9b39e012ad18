"""Streamlit sections the pages compose: forecast, model card, backtest result, data tables.

Each function lays out tables and figures that :mod:`fincast.dashboard.content`,
:mod:`fincast.dashboard.backtests` and :mod:`fincast.dashboard.datasets` computed, with
data-derived text escaped (see :func:`fincast.dashboard.content.escape_markdown`).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import streamlit as st

from fincast.dashboard.backtests import (
    BacktestResult,
    calibration_table,
    probabilistic_rows,
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
from fincast.dashboard.formatting import (
    PERCENT,
    Column,
    column_labels,
    p_value,
    percent,
    price,
    signed_percent,
    significant,
    styled,
)
from fincast.evaluation.stats import p_text
from fincast.evaluation.tasks import task_named

ROW_HEIGHT = 35  # Streamlit's data grid: pixels per row (header included), plus a border
_INTERVAL_SCORE = re.compile(r"^(width|winkler)_(\d+)$")


def show_table(
    table: pd.DataFrame,
    overrides: dict[str, Column] | None = None,
    *,
    default: Any = None,
    all_rows: bool = False,
    **options: Any,
) -> None:
    """``st.dataframe`` with fincast's number formats and headers with units.

    Args:
        table: the table; its numbers stay numbers (a browser sorts them as numbers).
        overrides: headers and formats for columns of this table only.
        default: the format of numeric columns that no rule names.
        all_rows: tall enough to show every row without scrolling.
        **options: passed to ``st.dataframe`` (``hide_index``, ``key``...).
    """
    if all_rows:
        options["height"] = (len(table) + 1) * ROW_HEIGHT + 3
    st.dataframe(
        styled(table, overrides, default),
        column_config=column_labels(table, overrides),
        **options,
    )


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
    last.metric("Last price", price(forecast.last_price))
    as_of.metric("As of", forecast.as_of)
    ahead.metric(
        f"Forecast for {forecast.dates[-1]}", price(prices[-1]), delta=signed_percent(change)
    )
    st.plotly_chart(forecast_figure(history, forecast, bands, band), key="forecast_chart")
    if band is None:
        st.caption("Point forecast: this model has no quantile output, so no interval is drawn.")
    else:
        st.caption(band_caption(band[2], getattr(forecast, "interval", None)))
    table = forecast_table(forecast, bands)
    st.subheader("Forecast table")
    show_table(table, all_rows=True)
    download(table, forecast, card)


def band_caption(coverage: float, interval: dict[str, Any] | None = None) -> str:
    """How the price band was made, under the chart."""
    source = "the model's per-step quantiles"
    if interval:
        method = "split conformal" if interval["method"] == "split" else "conformalised"
        source = f"the per-step calibrated {interval['level']:.0%} interval ({method})"
    return (
        f"{coverage:.0%} band: at step k, the quantiles of the cumulative k-day log return, "
        f"from {source} by a normal approximation of independent daily "
        "steps (centre: the sum of the daily medians; spread: the root of the summed squared "
        "daily spreads). The price q columns of the table are these quantiles as prices; "
        "the day's log-return q columns are the model's own per-step quantiles."
    )


def download(table: pd.DataFrame, forecast: Any, card: dict[str, Any] | None = None) -> None:
    """The forecast table as a CSV download (full precision), named after what it holds."""
    st.download_button(
        "Download CSV",
        data=forecast_csv(table),
        mime="text/csv",
        file_name=csv_filename(forecast, card),
        key="download_forecast",
    )


def show_values(forecast: Any, card: dict[str, Any], bars: pd.DataFrame, days: int) -> None:
    """A non-price forecast: the values per step after their recent history, and the table."""
    target = str(card.get("target", "value"))
    as_of, ahead = st.columns(2)
    as_of.metric("As of", forecast.as_of)
    ahead.metric(f"{target} forecast for {forecast.dates[-1]}", percent(forecast.values[-1], 1))
    task = task_named(str(card.get("task", "returns")))
    history = task.history(bars, days) if task.history else pd.Series(dtype=float)
    st.plotly_chart(value_figure(history, forecast, target), key="forecast_chart")
    table = value_table(forecast, card)
    st.subheader("Forecast table")
    as_percent = Column(f"{target} (%)", lambda value: percent(value, 2))
    overrides = {
        str(name): Column(f"{name} (%)", as_percent.formatter)
        for name in table.columns
        if str(name).startswith(f"{target}_q")
    }
    show_table(table, {target: as_percent, **overrides}, all_rows=True)
    download(table, forecast, card)


def show_model_card(card: dict[str, Any], model_uri: str, serving_backend: str) -> None:
    """Backend, data range and the held-out scores next to the baselines'."""
    with st.expander("Model card", expanded=True):
        facts = card_facts(card, model_uri, serving_backend)
        show_table(facts, all_rows=True)
        sentence = headline(card)
        if sentence:
            st.write(escape_markdown(sentence))
        scores = scores_frame(card)
        if scores.empty:
            st.caption("This model card holds no held-out scores.")
            return
        show_table(scores)
        st.caption(
            "Held-out scores of the model and baselines on the same windows; errors in "
            "percent (of log return or of annualised volatility), four significant digits. "
            "MAE / naive's below 1 beats the random walk. No significance test here: the "
            "Backtest page shows walk-forward results with Diebold-Mariano verdicts."
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
        spa = p_text(float(result.meta["spa_p"]))
        st.markdown(escape_markdown(f"SPA test (H0: no baseline beats the model): {spa}"))


def show_backtest(result: BacktestResult) -> None:
    """Every table of a saved backtest: verdicts, overall and per-fold scores, plots."""
    st.write(escape_markdown(result.summary()))
    show_verdicts(result)
    if result.scores is not None:
        metrics, tests = split_scores(result.scores)
        st.subheader("Overall scores")
        units = probabilistic_columns(result.meta.get("task"), metrics.columns)
        show_table(metrics, units, default=significant)
        if not tests.empty:
            st.caption("Diebold-Mariano p-values of the model against each baseline, per step.")
            labels = {str(name): Column(f"DM p-value, {name}", p_value) for name in tests.columns}
            show_table(tests, labels)
    if result.folds is not None:
        st.subheader("Per fold")
        st.plotly_chart(fold_losses_figure(result.folds), key="fold_chart")
        show_table(result.folds, default=significant)
    st.subheader("Interval calibration")
    calibration = calibration_table(result.scores) if result.scores is not None else None
    if calibration is None or calibration.empty:
        st.caption("No quantile forecasts in this backtest, so no intervals to calibrate.")
    else:
        st.plotly_chart(calibration_figure(calibration), key="calibration_chart")
        show_table(calibration, hide_index=True)
    show_probabilistic(result)
    if result.equity is not None:
        st.subheader("Trading the forecast")
        st.plotly_chart(equity_figure(result.equity), key="equity_chart")
    if result.trading is not None:
        show_table(result.trading, default=significant)


def probabilistic_columns(task: Any, names: Any = ()) -> dict[str, Column]:
    """Headers with units for probabilistic scores: the report's long table's columns
    (``target``, ``coverage``, ``width``...) and the scores table's among ``names``."""
    unit = {"returns": "% log return", "volatility": "% pts of volatility"}.get(str(task))
    value = PERCENT if unit else significant
    unit = unit or "forecast units"
    columns = {
        "target": Column("target coverage (%)", lambda share: percent(share, 0)),
        "coverage": Column("coverage (%)", lambda share: percent(share, 1)),
        "width": Column(f"mean width ({unit})", value),
        "winkler": Column(f"Winkler score ({unit})", value),
        "crps": Column(f"CRPS from quantiles ({unit})", value),
        "wis": Column(f"WIS ({unit})", value),
    }
    for name in map(str, names):
        matched = _INTERVAL_SCORE.match(name)
        if matched:
            what = "mean width" if matched.group(1) == "width" else "Winkler score"
            columns[name] = Column(f"{matched.group(2)}% interval {what} ({unit})", value)
    return columns


def show_probabilistic(result: BacktestResult) -> None:
    """Interval coverage against its target, width, Winkler, CRPS and WIS per forecaster."""
    st.subheader("Probabilistic scores")
    table = result.probabilistic
    if table is None or table.empty:
        st.caption("No quantile forecasts in this backtest, so no probabilistic scores.")
        return
    columns = probabilistic_columns(result.meta.get("task"))
    show_table(probabilistic_rows(table), columns, hide_index=True)
    st.caption(
        "Over all steps, one row per central interval. Coverage should be near its target; "
        "for width, Winkler (Winkler 1972: width plus 2/alpha times any miss), CRPS (twice "
        "the mean pinball loss over the forecast's quantile levels, an approximation on "
        "those levels) and WIS (weighted interval score, Bracher et al. 2021) lower is "
        "better. CRPS and WIS score the whole quantile forecast, so they repeat over a "
        "forecaster's intervals."
    )
    with st.expander("Per horizon step"):
        show_table(probabilistic_rows(table, None), columns, hide_index=True)


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
    show_table(scores)


def show_timing(ticker: str, seconds: float, backend: str) -> None:
    """How long the server took to compute this page (last on the page)."""
    st.caption(escape_markdown(f"{ticker}: page computed in {seconds * 1000:.0f} ms ({backend})"))
