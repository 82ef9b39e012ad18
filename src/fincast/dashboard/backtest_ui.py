"""Streamlit glue of the Backtest page: the saved backtests of the sidebar's task and model.

Results are read from an MLflow run's artifacts or a folder on disk
(:mod:`fincast.dashboard.backtests`); nothing is recomputed. Only backtests of the task
chosen in the sidebar are listed, those of the chosen model family unless the user
widens the list, each labelled by model, task, date and folds.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import streamlit as st

from fincast.dashboard.backtests import (
    REPORT_FILE,
    BacktestResult,
    SavedBacktest,
    find_local_results,
    folder_backtest,
    run_backtests,
)
from fincast.dashboard.content import Settings, code_span, escape_markdown
from fincast.dashboard.runs import describe_runs, family_of_uri
from fincast.dashboard.ui import runs_of

RUN, FOLDER = "an MLflow run", "a saved folder"
HOW = "`fincast-backtest evaluation=walkforward`"


@st.cache_data(ttl=30, show_spinner=False)
def run_result_folders(tracking_uri: str, run_id: str) -> list[str]:
    """The run's artifact folders that hold a saved backtest."""
    from fincast.dashboard.backtests import result_folders
    from fincast.tracking.browse import list_run_files

    return result_folders(list_run_files(tracking_uri, run_id))


@st.cache_data(max_entries=16, show_spinner="Downloading the backtest results...")
def run_result(tracking_uri: str, run_id: str, folder: str) -> BacktestResult:
    """A saved backtest from a run's artifacts (downloaded once, then cached)."""
    import tempfile

    from fincast.dashboard.backtests import read_result
    from fincast.tracking.browse import download_run_file

    with tempfile.TemporaryDirectory(prefix="fincast-backtest-") as temporary:
        local = download_run_file(tracking_uri, run_id, folder, Path(temporary))
        return read_result(local, label=folder)


@st.cache_data(ttl=60, show_spinner=False)
def local_result(folder: str, stamp: float) -> BacktestResult:
    """A saved backtest folder on disk (``stamp``: its report's mtime)."""
    from fincast.dashboard.backtests import read_result

    return read_result(folder)


@st.cache_data(max_entries=256, show_spinner=False)
def described_folder(folder: str, stamp: float) -> SavedBacktest:
    """What a saved folder holds (``stamp``: its report's mtime)."""
    return folder_backtest(folder)


def stored_runs(settings: Settings) -> pd.DataFrame | None:
    """The store's runs (``None`` without a store), saying why under the page if unread."""
    runs, why = (
        (None, None)
        if settings.store_missing()
        else runs_of(settings.tracking_uri, settings.experiment)
    )
    if why:
        st.caption(escape_markdown(why))
    return runs


def _run_backtests(settings: Settings) -> list[SavedBacktest] | None:
    """The store's backtest runs, or ``None`` with a message when there is no store or run."""
    runs = stored_runs(settings)
    if runs is None or runs.empty:
        st.info(
            f"No MLflow runs in {code_span(settings.tracking_uri)} yet. Run {HOW}, "
            "or read a saved folder instead."
        )
        return None
    return run_backtests(describe_runs(runs))


def _folder_backtests(settings: Settings) -> list[SavedBacktest] | None:
    """The saved folders under the backtest directory, or ``None`` with a message."""
    folders = find_local_results(settings.backtest_dir)
    if not folders:
        st.info(f"No saved backtest under {code_span(settings.backtest_dir + '/')} yet. Run {HOW}.")
        return None
    return [described_folder(str(path), (path / REPORT_FILE).stat().st_mtime) for path in folders]


def follow_sidebar(
    found: list[SavedBacktest], task: str | None, family: str | None, where: str
) -> list[SavedBacktest]:
    """The backtests of the sidebar's task, and of its model family unless widened.

    Messages on the page say what is left out and how to make the missing backtest.
    """
    of_task = [saved for saved in found if saved.follows(task, None)]
    if not of_task:
        others = Counter(saved.task or "unknown" for saved in found)
        listed = ", ".join(f"{name}: {count}" for name, count in sorted(others.items()))
        st.info(
            f"No walk-forward backtest of the {escape_markdown(task)} task in {where} "
            f"(other tasks: {escape_markdown(listed)}). Run {HOW} "
            f"`task={escape_markdown(task)}`, or choose another task in the sidebar."
        )
        return []
    if family is None:
        return of_task
    of_model = [saved for saved in of_task if saved.follows(task, family)]
    if not of_model:
        st.caption(
            escape_markdown(
                f"No backtest of {family} for the {task} task yet; these are of other models."
            )
        )
        return of_task
    if len(of_model) < len(of_task) and st.toggle(
        f"Backtests of every {task} model, not only {family}"
    ):
        return of_task
    return of_model


def pick_result(
    settings: Settings, model_uri: str | None, task: str | None
) -> BacktestResult | None:
    """The saved backtest the user picks among those of the sidebar's task and model.

    ``None`` (with a message on the page) when there is none to show.
    """
    source = st.radio("Read the results from", [RUN, FOLDER], horizontal=True)
    found = _run_backtests(settings) if source == RUN else _folder_backtests(settings)
    if found is None:
        return None
    where = "this MLflow experiment" if source == RUN else code_span(settings.backtest_dir + "/")
    shown = follow_sidebar(found, task, family_of_uri(model_uri), where)
    if not shown:
        return None
    labels = {saved.where: saved.label for saved in shown}
    chosen = st.selectbox(
        "Backtest",
        list(labels),
        format_func=lambda key: labels[key],
        key=f"fincast.backtest.{source}.{task}",  # a fresh choice per source and task
    )
    if source == FOLDER:
        return local_result(chosen, (Path(chosen) / REPORT_FILE).stat().st_mtime)
    folders = run_result_folders(settings.tracking_uri, chosen)
    if not folders:
        st.info(f"This run holds no saved walk-forward backtest files. Run {HOW}, or pick another.")
        return None
    folder = st.selectbox("Result", folders) if len(folders) > 1 else folders[0]
    return run_result(settings.tracking_uri, chosen, folder)
