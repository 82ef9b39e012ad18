"""Streamlit glue the dashboard's pages share: setup, caches, the model picker, empty states.

Pages call these helpers and lay out what :mod:`fincast.dashboard.content`,
:mod:`fincast.dashboard.backtests` and :mod:`fincast.dashboard.datasets` compute. The
loaded model is cached once per resolved URI (``st.cache_resource``, bounded) and shared
read-only by every session; data and registry listings are cached with ``st.cache_data``.
Text that comes from data (tickers, file names, errors) is escaped before it reaches
any element that renders Markdown, and no element is given ``unsafe_allow_html``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from fincast.backend import BackendError, select_backend
from fincast.dashboard.content import Settings, code_span, escape_markdown, one_line
from fincast.dashboard.model_choices import (
    OTHER_MODEL,
    available_tasks,
    configured_tasks,
    model_choices,
)
from fincast.dashboard.quicktrain import QuickSettings, QuickTrainer, estimate_text

MODEL_KEY = "fincast.model_uri"
TASK_KEY = "fincast.task"
OTHER_KEY = "fincast.other_uri"
SEEN_KEY = "fincast.quick_seen"
Option = TypeVar("Option")


def setup(title: str) -> Settings:
    """Page config, the settings, and the Keras backend fixed before anything imports Keras."""
    st.set_page_config(page_title=f"fincast: {title}", layout="wide")
    settings = Settings.from_environment()
    try:
        select_backend(settings.backend)
    except BackendError as error:
        st.error(escape_markdown(one_line(error)))
        st.stop()
    st.title(title)
    return settings


def error(message: BaseException | str) -> None:
    """One red line with the message, shown as text."""
    st.error(escape_markdown(one_line(message)))


def remembered_select(
    label: str,
    options: Sequence[Option],
    key: str,
    *,
    format_func: Callable[[Option], str] = str,
    help: str | None = None,
) -> Option:
    """A sidebar selectbox whose choice survives moving between pages (stored under ``key``)."""
    pending = st.session_state.pop(f"{key}.pending", None)
    if pending is not None:  # chosen by the app (a new quick model): move the widget there
        st.session_state[key] = pending
        if pending in options:  # set through session state, so the browser shows it too
            st.session_state[f"{key}.widget"] = pending
        else:
            st.session_state.pop(f"{key}.widget", None)
    stored = st.session_state.get(key)
    index = list(options).index(stored) if stored is not None and stored in options else 0
    if pending is not None and pending in options:
        index = 0  # the session state sets the value; a default as well makes Streamlit warn
    value = st.sidebar.selectbox(
        label, options, index=index, format_func=format_func, key=f"{key}.widget", help=help
    )
    st.session_state[key] = value
    return value


@dataclass
class SharedModel:
    """A loaded forecaster and the lock that serialises its predictions across sessions."""

    forecaster: Any
    lock: threading.Lock


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def shared_model(model_uri: str, tracking_uri: str) -> SharedModel:
    """The model at ``model_uri`` (a resolved version, not a moving alias), loaded once."""
    from fincast.serving.forecast import load_forecaster

    return SharedModel(load_forecaster(model_uri, tracking_uri), threading.Lock())


@st.cache_data(ttl=15, show_spinner=False)
def model_versions(tracking_uri: str) -> tuple[pd.DataFrame | None, str | None]:
    """Registered fincast model versions, or ``(None, why not)`` (no store, store down)."""
    from fincast.tracking.registry import list_model_versions
    from fincast.tracking.store import TrackingError

    try:
        return list_model_versions(tracking_uri), None
    except TrackingError as failure:
        return None, one_line(failure)


def resolved_uri(model_uri: str, tracking_uri: str, versions: pd.DataFrame | None = None) -> str:
    """``models:/name@alias`` as ``models:/name/<version>``, in one step.

    The alias is looked up in ``versions`` (the table the picker's labels came from), so
    the label and the loaded model always agree; a URI not in it is asked of the store.
    """
    if not model_uri.startswith("models:/") or "@" not in model_uri:
        return model_uri
    name, alias = model_uri.removeprefix("models:/").split("@", 1)
    version = alias_version(versions, name, alias) if versions is not None else None
    if version is None:
        from fincast.tracking.store import open_store

        try:
            version = int(open_store(tracking_uri).get_model_version_by_alias(name, alias).version)
        except Exception:  # no store, no alias: loading reports it with advice
            return model_uri
    return f"models:/{name}/{version}"


def alias_version(versions: pd.DataFrame, name: str, alias: str) -> int | None:
    """The version of registered model ``name`` that holds ``alias`` in ``versions``."""
    rows = versions[versions["name"] == name]
    for version, aliases in zip(rows["version"], rows["aliases"], strict=True):
        if alias in list(aliases):
            return int(version)
    return None


def picker_versions(settings: Settings) -> pd.DataFrame | None:
    """The registered versions the picker shows in this run (``None``: no store or none)."""
    if settings.store_missing():
        return None
    return model_versions(settings.tracking_uri)[0]


def pick_model(settings: Settings) -> str | None:
    """Task and model pickers in the sidebar; the chosen model URI (``None``: nothing to pick)."""
    versions = picker_versions(settings)
    every = model_choices(settings, versions)
    task = remembered_select("Task", available_tasks(every, configured_tasks()), TASK_KEY)
    choices = [choice for choice in every if choice.task in (task, None)]
    labels: dict[str, str] = {choice.uri: choice.label for choice in choices}
    labels[OTHER_MODEL] = OTHER_MODEL
    uri = remembered_select(
        "Model",
        list(labels),
        MODEL_KEY,
        format_func=lambda key: labels.get(key, key),
        help="The registered champion by default; any registered version, a saved .keras "
        "file, or another model URI (models:/..., runs:/<id>/model, a path).",
    )
    if uri == OTHER_MODEL:
        other = st.sidebar.text_input(
            "Model URI", value=st.session_state.get(OTHER_KEY, ""), key=f"{OTHER_KEY}.widget"
        )
        st.session_state[OTHER_KEY] = other.strip()
        return other.strip() or None
    return uri


def load_model(settings: Settings, model_uri: str) -> SharedModel | None:
    """The shared model, or an error / empty-state message on the page and ``None``."""
    from fincast.tracking.store import TrackingError

    try:
        versions = picker_versions(settings)  # the same cached table as the picker's labels
        resolved = resolved_uri(model_uri, settings.tracking_uri, versions)
        return shared_model(resolved, settings.tracking_uri)
    except TrackingError as failure:
        st.info(
            f"No model at {code_span(model_uri)} yet. Train one with `make run` "
            "(or `fincast-train`), start a quick training run below, or pick another "
            "model in the sidebar."
        )
        st.caption(escape_markdown(one_line(failure)))
    except (ValueError, OSError) as failure:
        error(failure)
    return None


def no_model_choices(settings: Settings) -> None:
    """Empty state when no model is registered or saved anywhere."""
    where = "no MLflow store yet" if settings.store_missing() else "no registered model"
    st.info(
        f"There is no model to forecast with ({where} at "
        f"{code_span(settings.tracking_uri)}, no saved model under "
        f"{code_span(settings.models_dir + '/')}). Train one with `make run` "
        "(or `fincast-train`), or start a quick training run below."
    )


def warnings(*messages: str | None) -> None:
    """One yellow box per message that is not ``None``, shown as text."""
    for message in messages:
        if message:
            st.warning(escape_markdown(one_line(message)))


@st.cache_data(show_spinner=False)
def bundled_tickers() -> list[str]:
    """The tickers of the bundled sample data set."""
    from fincast.data.sources import sample_tickers

    return sample_tickers()


@st.cache_data(max_entries=32, show_spinner="Loading market data...")
def bars_of(source: str, ticker: str, options_json: str, cache_dir: str, stamp: float) -> Any:
    """Validated bars of one ticker (``stamp``: the cache file's mtime, so a refresh shows)."""
    from fincast.data.loading import load_bars

    options = json.loads(options_json)
    refresh = options.pop("refresh", "never")
    return load_bars(source, [ticker], cache_dir=cache_dir, refresh=refresh, options=options)[
        ticker
    ]


def cache_stamp(cache_dir: str, ticker: str) -> float:
    """Modification time of a ticker's cache file (0 when not cached)."""
    from fincast.data.cache import cache_path

    path = Path(cache_path(cache_dir, ticker))
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_resource
def quick_trainer() -> QuickTrainer:
    """The one quick-training worker of this server process (shared by every session)."""
    return QuickTrainer()


def quick_train_panel(settings: Settings, epochs: int = 3) -> None:
    """A button that trains a small model in the background, and its live progress."""
    trainer = quick_trainer()
    st.session_state["fincast.quick_trainer"] = trainer  # its .progress is read by the page
    with st.container(border=True):
        st.subheader("Quick model")
        st.caption(
            "Trains a small MLP on the bundled S&P 500 and NASDAQ data in the background, "
            "records it in MLflow, and uses it here. For real work, train with `make run`. "
            + escape_markdown(estimate_text(settings.models_dir))
        )
        if st.button("Train a quick model", disabled=trainer.progress.running):
            quick = QuickSettings(
                epochs=epochs,
                models_dir=settings.models_dir,
                tracking_uri=settings.tracking_uri,
                experiment=settings.experiment,
            )
            if not trainer.start(quick):
                st.warning("A quick training run is already going; its progress is below.")
        show_training_progress()


def show_training_progress() -> None:
    """Progress of the quick training run, polled every second while it runs."""
    every = 1.0 if quick_trainer().progress.running else None
    st.fragment(_training_progress, run_every=every)()


def _training_progress() -> None:
    progress = quick_trainer().progress
    if progress.state == "idle":
        return
    if progress.running:
        text = f"{progress.phase} ({progress.elapsed:.0f} s so far)"
        st.progress(progress.fraction, text=escape_markdown(text))
        return
    if st.session_state.get(SEEN_KEY) != progress.started:  # first look at this outcome
        st.session_state[SEEN_KEY] = progress.started
        if progress.state == "done" and progress.model_uri:
            st.session_state[f"{MODEL_KEY}.pending"] = progress.model_uri
            registry_changed()
        st.rerun(scope="app")
    if progress.state == "failed":
        error(f"Quick training failed: {progress.error}")
        return
    for note in progress.notes:
        st.warning(escape_markdown(one_line(note)))
    st.success(f"Quick model ready: {code_span(progress.model_uri or '')}")


def registry_changed() -> None:
    """Forget every cached registry and run listing, so every page sees a new champion now."""
    from fincast.dashboard import backtest_ui

    model_versions.clear()
    runs_of.clear()
    for name in ("run_of_model", "run_result_folders"):  # the Backtest page's registry look-ups
        cached = getattr(backtest_ui, name, None)
        if cached is not None and hasattr(cached, "clear"):
            cached.clear()


@st.cache_data(ttl=10, show_spinner="Reading the MLflow runs...")
def runs_of(tracking_uri: str, experiment: str) -> tuple[pd.DataFrame | None, str | None]:
    """The experiment's runs (:func:`fincast.tracking.browse.list_runs`) or why not."""
    from fincast.tracking.browse import list_runs
    from fincast.tracking.store import TrackingError

    try:
        return list_runs(tracking_uri, experiment), None
    except TrackingError as failure:
        return None, one_line(failure)
