"""Streamlit glue of the Universe page: the latest forecasts ranked, and a universe backtest.

Both follow the task chosen in the sidebar. The forecasts are a training run's
``forecast/next_days.csv`` (laid out by :mod:`fincast.dashboard.universe_forecasts_ui`);
the scores, laid out here, are the newest walk-forward backtest run of the task (of the
sidebar's model family first) that saved ``backtest/universe/``. Nothing is
recomputed; the tables and figures come from :mod:`fincast.dashboard.universes`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from fincast.dashboard.backtest_ui import stored_runs
from fincast.dashboard.backtests import SavedBacktest, run_backtests
from fincast.dashboard.content import Settings, code_span, escape_markdown, one_line
from fincast.dashboard.formatting import p_values_in_text, significant
from fincast.dashboard.runs import describe_runs, family_of_uri
from fincast.dashboard.universe_forecasts_ui import (
    TRAIN,
    sector_filter,
    show_forecasts,
    task_command,
)
from fincast.dashboard.universes import (
    PORTFOLIO_COLUMNS,
    SUMMARY_FILE,
    UNIVERSE_FOLDER,
    UNKNOWN_SECTOR,
    ic_figure,
    left_out_table,
    per_ticker_columns,
    portfolio_table,
    quantile_figure,
    summary_line,
)
from fincast.dashboard.views import show_table
from fincast.evaluation.tasks import task_named
from fincast.evaluation.universe import Universe, load_universe

BACKTEST = "fincast-backtest data=stocknet data.tickers=sector:Technology evaluation=walkforward"
NEWEST = 20  # backtest runs looked into for universe files, newest first


@st.cache_data(ttl=30, show_spinner=False)
def has_universe(tracking_uri: str, run_id: str) -> bool:
    """Whether a backtest run saved the universe scores (``backtest/universe/summary.json``)."""
    from fincast.tracking.browse import list_run_files

    files = list_run_files(tracking_uri, run_id, UNIVERSE_FOLDER)
    return f"{UNIVERSE_FOLDER}/{SUMMARY_FILE}" in files


@st.cache_data(max_entries=16, show_spinner="Downloading the universe scores...")
def run_universe(tracking_uri: str, run_id: str) -> Universe:
    """A backtest run's universe scores (downloaded once, then cached)."""
    from fincast.tracking.browse import download_run_file

    with tempfile.TemporaryDirectory(prefix="fincast-universe-") as temporary:
        local = download_run_file(tracking_uri, run_id, UNIVERSE_FOLDER, Path(temporary))
        return load_universe(local)


def described_runs(settings: Settings, task: str | None) -> pd.DataFrame | None:
    """The experiment's runs with kind, task and model; ``None`` with a message when none."""
    runs = stored_runs(settings)
    if runs is None or runs.empty:
        st.info(
            f"No MLflow runs in {code_span(settings.tracking_uri)} yet. Rank a universe's "
            f"forecasts after {task_command(TRAIN, task)}, and see its walk-forward scores "
            f"after {task_command(BACKTEST, task)}."
        )
        return None
    return describe_runs(runs)


def _universe_runs(
    settings: Settings, described: pd.DataFrame, task: str, family: str | None
) -> list[SavedBacktest]:
    """The task's backtest runs that saved universe scores, the sidebar's family first."""
    found = [saved for saved in run_backtests(described) if saved.follows(task, None)]
    found = [s for s in found[:NEWEST] if has_universe(settings.tracking_uri, s.where)]
    return sorted(found, key=lambda saved: saved.model != family)  # stable: newest first


def show_scores(
    settings: Settings, described: pd.DataFrame, task: str, model_uri: str | None
) -> None:
    """The chosen universe backtest: verdicts per ticker, IC series, quantile portfolios."""
    st.header("Walk-forward scores across the universe")
    found = _universe_runs(settings, described, task, family_of_uri(model_uri))
    if not found:
        st.info(
            f"No walk-forward backtest of the {escape_markdown(task)} task over several "
            f"tickers in this experiment. Run {task_command(BACKTEST, task)}."
        )
        return
    labels = {saved.where: saved.label for saved in found}
    chosen = st.selectbox(
        "Universe backtest",
        list(labels),
        format_func=lambda key: labels[key],
        key=f"fincast.universe.backtest.{task}",
    )
    try:
        result = run_universe(settings.tracking_uri, chosen)
    except (OSError, ValueError) as failure:
        st.error(escape_markdown(one_line(failure)))
        return
    show_universe(result, chosen)


def show_universe(result: Universe, key: str) -> None:
    """Every part of a universe backtest: per-ticker verdicts, IC, portfolios, left out."""
    summary = result.summary
    st.write(escape_markdown(summary_line(summary)))
    for note in summary.get("notes") or []:
        st.caption(escape_markdown(f"Note: {note}"))
    show_verdicts(result, key)
    show_ic(result)
    show_portfolios(result)
    left = left_out_table(summary)
    st.subheader("Left out")
    if left.empty:
        st.caption("No ticker was left out.")
    else:
        st.caption("Tickers the walk-forward left out, and why.")
        show_table(left, hide_index=True)


def show_verdicts(result: Universe, key: str) -> None:
    """The DM sentence and the per-ticker table (sortable, filtered by sector)."""
    st.subheader("Does the model beat the baseline, ticker by ticker?")
    dm = result.summary.get("dm") or {}
    if dm.get("sentence"):
        st.markdown(escape_markdown(p_values_in_text(str(dm["sentence"]))))
    baseline = str(dm.get("baseline") or result.summary.get("baseline") or "baseline")
    test = f"{dm['test']} " if dm.get("test") else ""
    loss = f" ({dm['loss']})" if dm.get("loss") else ""
    alpha = f" at {float(dm['alpha']):.0%}" if dm.get("alpha") is not None else ""
    st.caption(
        escape_markdown(
            f"A {test}Diebold-Mariano test per ticker of the model's mean loss{loss} "
            f"against {baseline}'s; the p-values adjusted over the tickers by "
            f"Benjamini-Hochberg (false discovery rate; the verdicts{alpha}) and by Holm "
            "(family-wise error). Click a header to sort."
        )
    )
    table = result.per_ticker
    if table is None or table.empty:
        st.caption("This backtest saved no per-ticker scores.")
        return
    table = table.reset_index()
    if "sector" not in table:
        table["sector"] = ""
    table["sector"] = table["sector"].fillna("").replace("", UNKNOWN_SECTOR)
    shown = sector_filter(table, f"fincast.universe.ticker_sectors.{key}")
    show_table(shown, per_ticker_columns(baseline), hide_index=True)


def _metric_row(name: str, figures: dict[str, Any], horizon: int) -> None:
    mean, icir, t_stat, dates = st.columns(4)
    mean.metric(f"mean {name}", significant(figures.get("mean"), 3))
    icir.metric(f"{name} IR (mean / std)", significant(figures.get("icir"), 3))
    apart = figures.get("t_stat_non_overlapping")
    if horizon > 1 and apart is not None:
        t_stat.metric(
            f"{name} t (non-overlapping)",
            significant(apart, 3),
            help=f"On every {horizon}th date ({figures.get('dates_non_overlapping')} dates), "
            f"whose {horizon}-day targets do not overlap. On all dates: "
            f"{significant(figures.get('t_stat'), 3)}, which treats overlapping targets "
            "as independent.",
        )
    else:
        t_stat.metric(f"{name} t-statistic", significant(figures.get("t_stat"), 3))
    dates.metric(f"dates ({figures.get('skipped') or 0} skipped)", str(figures.get("dates", "n/a")))


def _not_returns(summary: dict[str, Any]) -> bool:
    """Whether the task forecasts something other than returns (no IC, no portfolios)."""
    try:
        return not task_named(str(summary.get("task"))).directional
    except ValueError:
        return False


def show_ic(result: Universe) -> None:
    """IC and rank-IC headline figures and their series (or why there are none)."""
    st.subheader("Information coefficient")
    summary = result.summary
    if summary.get("ic") is None and summary.get("rank_ic") is None:
        why = (
            "it forecasts no returns, so there is no ranking of returns to correlate"
            if _not_returns(summary)
            else "no date had enough tickers with a forecast and a realised return"
        )
        st.info(
            escape_markdown(
                f"No information coefficient for the {summary.get('task')} task: {why}."
            )
        )
        return
    horizon = int(summary.get("horizon") or 1)
    for name, field in (("IC", "ic"), ("rank IC", "rank_ic")):
        if summary.get(field):
            _metric_row(name, summary[field], horizon)
    if result.ic is not None and not result.ic.empty:
        st.plotly_chart(ic_figure(result.ic), key="ic_chart")
    st.caption(
        escape_markdown(
            "Per origin date, the correlation across tickers of the model's forecast with "
            "the return then realised (Pearson: IC; Spearman: rank IC). "
            + (f"Signal: {summary['signal']}." if summary.get("signal") else "")
        )
    )


def show_portfolios(result: Universe) -> None:
    """The quantile portfolios' equity curves and the long-short book's figures."""
    st.subheader("Quantile portfolios")
    summary = result.summary
    portfolios = summary.get("portfolios")
    if portfolios is None:
        why = (
            "its forecasts are not returns to go long or short"
            if _not_returns(summary)
            else "no long-short book could be held"
        )
        st.info(
            escape_markdown(f"No quantile portfolios for the {summary.get('task')} task: {why}.")
        )
        return
    if result.equity is not None and not result.equity.empty:
        st.plotly_chart(quantile_figure(result.equity), key="quantile_chart")
    show_table(portfolio_table(portfolios), PORTFOLIO_COLUMNS)
    horizon = int(summary.get("horizon") or 1)
    neutral = (
        "sector-neutral (bucketed within each sector)"
        if portfolios.get("sector_neutral")
        else "not sector-neutral"
    )
    st.caption(
        escape_markdown(
            f"Every {horizon} sessions the tickers are bucketed by forecast into "
            f"{portfolios.get('quantiles')} equal-weight portfolios, held {horizon} sessions; "
            f"the long-short book holds the top one and shorts the bottom one, {neutral}; "
            f"costs {portfolios.get('cost_bps')} basis points per unit traded."
        )
    )


def show_page(settings: Settings, model_uri: str | None, task: str | None) -> None:
    """The Universe page below its title: forecasts ranked, then the universe backtest."""
    described = described_runs(settings, task)
    if described is None or task is None:
        return
    show_forecasts(settings, described, task, model_uri)
    st.divider()
    show_scores(settings, described, task, model_uri)
