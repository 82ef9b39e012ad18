"""Streamlit glue of the Universe page's first part: the latest forecasts, ranked.

The forecasts are a training run's ``forecast/next_days.csv`` (the sidebar model's run
by default, else the newest run of the task); nothing is recomputed, the table comes
from :mod:`fincast.dashboard.universes`. :mod:`fincast.dashboard.universe_ui` lays out
the page and its walk-forward scores, and uses :func:`task_command` and
:func:`sector_filter` from here too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from fincast.dashboard.content import Settings, code_span, escape_markdown
from fincast.dashboard.runs import TRAINING, join_tickers
from fincast.dashboard.ui import alias_version, picker_versions
from fincast.dashboard.universes import (
    FORECASTS_FILE,
    forecast_columns,
    in_sectors,
    ranked_forecasts,
)
from fincast.dashboard.views import show_table

TRAIN = "fincast-train data=stocknet data.tickers=sector:Technology"


def task_command(base: str, task: str | None) -> str:
    """The command that makes what the page misses, for the sidebar's task."""
    return code_span(base if task in (None, "returns") else f"{base} task={task}")


@st.cache_data(ttl=30, show_spinner=False)
def run_forecasts(tracking_uri: str, run_id: str) -> pd.DataFrame | None:
    """A training run's ``forecast/next_days.csv`` (``None`` when it logged none)."""
    from fincast.tracking.browse import download_run_file, list_run_files

    if FORECASTS_FILE not in list_run_files(tracking_uri, run_id, "forecast"):
        return None
    with tempfile.TemporaryDirectory(prefix="fincast-forecasts-") as temporary:
        path = download_run_file(tracking_uri, run_id, FORECASTS_FILE, Path(temporary))
        return pd.read_csv(path)


def model_run(model_uri: str | None, versions: pd.DataFrame | None) -> str | None:
    """The run that logged the sidebar's model (a registered version or ``runs:/``)."""
    if not model_uri:
        return None
    if model_uri.startswith("runs:/"):
        return model_uri.removeprefix("runs:/").split("/")[0]
    if not model_uri.startswith("models:/") or versions is None:
        return None
    name, _, rest = model_uri.removeprefix("models:/").partition("/")
    if "@" in name:
        name, alias = name.split("@", 1)
        version = alias_version(versions, name, alias)
    else:
        version = int(rest) if rest.isdigit() else None
    rows = versions[(versions["name"] == name) & (versions["version"] == version)]
    return str(rows["run_id"].iloc[0]) if len(rows) else None


def _param(row: pd.Series, name: str) -> str | None:
    value = row.get(f"params.{name}")
    text = None if value is None or pd.isna(value) else str(value)
    return None if text in (None, "", "None", "null") else text


def _run_label(row: pd.Series) -> str:
    tickers = join_tickers(row.get("params.data.tickers"))
    count = len(tickers.split(", ")) if tickers else 0
    started = pd.Timestamp(row["start_time"])
    return " · ".join(
        [
            str(row.get("model") or "model unknown"),
            f"{started:%Y-%m-%d %H:%M} UTC" if not pd.isna(started) else "date unknown",
            f"{count} tickers" if count != 1 else tickers,
            str(row.get("run_name") or row["run_id"][:8]),
        ]
    )


def sector_filter(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """A multiselect of the table's sectors (none chosen: every sector) and the rows kept."""
    sectors = sorted(table["sector"].dropna().unique())
    chosen = st.multiselect("Sectors", sectors, key=key, placeholder="Every sector")
    shown = in_sectors(table, chosen)
    st.caption(f"{len(shown)} of {len(table)} tickers shown.")
    return shown


def show_forecasts(
    settings: Settings, described: pd.DataFrame, task: str, model_uri: str | None
) -> None:
    """The chosen training run's next-days forecasts, ranked, with a sector filter."""
    from fincast.data.universe import ticker_sectors

    st.header("Latest forecasts, ranked")
    runs = described[(described["kind"] == TRAINING) & (described["task"] == task)]
    if runs.empty:
        st.info(
            f"No training run of the {escape_markdown(task)} task yet. "
            f"Run {task_command(TRAIN, task)}."
        )
        return
    rows = {str(row["run_id"]): row for _, row in runs.iterrows()}
    mine = model_run(model_uri, picker_versions(settings))
    chosen = st.selectbox(
        "Forecasts of the training run",
        list(rows),
        index=list(rows).index(mine) if mine in rows else 0,
        format_func=lambda run: _run_label(rows[run]),
        key=f"fincast.universe.forecasts.{task}",
        help="The sidebar's model's run by default, else the newest run of the task.",
    )
    next_days = run_forecasts(settings.tracking_uri, chosen)
    if next_days is None or next_days.empty:
        st.info(
            f"This run logged no {code_span(FORECASTS_FILE)}. Pick another run, "
            f"or run {task_command(TRAIN, task)}."
        )
        return
    row = rows[chosen]
    tickers = sorted(map(str, next_days["ticker"].unique()))
    table = ranked_forecasts(
        next_days,
        task=task,
        sectors=ticker_sectors(_param(row, "data.source") or "", tickers),
        target=_param(row, "task.target"),
        calendar=_param(row, "data.calendar"),
    )
    horizon = int(next_days.groupby("ticker").size().max())
    shown = sector_filter(table, f"fincast.universe.forecast_sectors.{chosen}")
    show_table(shown, forecast_columns(task, horizon), hide_index=True)
    st.caption(
        "Ranked by the forecast over the whole horizon (the sum of the daily log returns; "
        "for volatility, the last day's). Click a header to sort. These are forecasts, "
        "not scores: how well this ranking has held up is in the walk-forward scores below."
    )
