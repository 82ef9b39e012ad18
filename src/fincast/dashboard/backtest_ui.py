"""Streamlit glue of the Backtest page: where saved results come from, read once and cached.

Results are read from an MLflow run's artifacts or a folder on disk
(:mod:`fincast.dashboard.backtests`); nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fincast.dashboard.backtests import REPORT_FILE, BacktestResult, find_local_results
from fincast.dashboard.content import Settings, code_span
from fincast.dashboard.runs import backtest_runs_first, run_label
from fincast.dashboard.ui import runs_of

RUN, FOLDER = "an MLflow run", "a saved folder"
HOW = "`fincast-backtest evaluation=walkforward`"


@st.cache_data(ttl=30, show_spinner=False)
def run_of_model(tracking_uri: str, model_uri: str) -> str | None:
    """The run that logged a registered model, or ``None``."""
    from fincast.tracking.registry import run_of_model
    from fincast.tracking.store import TrackingError

    try:
        return run_of_model(tracking_uri, model_uri)
    except TrackingError:
        return None


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


def _from_run(settings: Settings, model_uri: str | None) -> BacktestResult | None:
    runs, _ = (
        (None, None)
        if settings.store_missing()
        else runs_of(settings.tracking_uri, settings.experiment)
    )
    if runs is None or runs.empty:
        st.info(
            f"No MLflow runs in {code_span(settings.tracking_uri)} yet. Run {HOW}, "
            "or read a saved folder instead."
        )
        return None
    model_run = run_of_model(settings.tracking_uri, model_uri) if model_uri else None
    labels = {row.run_id: run_label(row) for _, row in runs.iterrows()}
    if model_run in labels:
        labels[model_run] += " (the chosen model)"
    run_id = st.selectbox(
        "Run", backtest_runs_first(runs, model_run), format_func=lambda run: labels[run]
    )
    folders = run_result_folders(settings.tracking_uri, run_id)
    if not folders:
        st.info(f"This run holds no saved walk-forward backtest. Run {HOW}, or pick another run.")
        return None
    folder = st.selectbox("Result", folders)
    return run_result(settings.tracking_uri, run_id, folder)


def _from_folder(settings: Settings) -> BacktestResult | None:
    folders = [str(path) for path in find_local_results(settings.backtest_dir)]
    if not folders:
        st.info(f"No saved backtest under {code_span(settings.backtest_dir + '/')} yet. Run {HOW}.")
        return None
    folder = st.selectbox("Result folder", folders)
    return local_result(folder, (Path(folder) / REPORT_FILE).stat().st_mtime)


def pick_result(settings: Settings, model_uri: str | None) -> BacktestResult | None:
    """Where to read a saved backtest from, and the chosen result (``None``: none there)."""
    source = st.radio("Read the results from", [RUN, FOLDER], horizontal=True)
    return _from_run(settings, model_uri) if source == RUN else _from_folder(settings)
