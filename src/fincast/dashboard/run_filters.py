"""Streamlit glue of the Runs page: the sidebar's task and model as filters, column headers.

The Runs and Backtest pages follow the task and model chosen in the sidebar
(:func:`fincast.dashboard.ui.pick_model`): a table holds one task and one kind of run
(:mod:`fincast.dashboard.runs`), so no score is sorted or compared against another
kind of score.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from fincast.dashboard.content import Settings, escape_markdown
from fincast.dashboard.formatting import Column, column_format, significant
from fincast.dashboard.runs import (
    KINDS,
    TRAINING,
    describe_runs,
    family_of_uri,
    key_metric,
    select_runs,
)

KIND_NAMES = {"training": "training runs", "backtest": "backtests", "sweep": "sweeps"}
SCOPES = {"test_": "hold-out", "wf_trading_model_": "trading", "wf_model_": "walk-forward"}


def sidebar_task(model_uri: str | None) -> str | None:
    """The task chosen in the sidebar (else the one the model URI names)."""
    from fincast.dashboard.model_choices import task_of_uri
    from fincast.dashboard.ui import TASK_KEY

    task = st.session_state.get(TASK_KEY)
    return str(task) if task else (task_of_uri(model_uri) if model_uri else None)


def _counts(described: pd.DataFrame, column: str) -> str:
    counts = described[column].fillna("unknown").value_counts()
    return ", ".join(f"{name}: {count}" for name, count in counts.items())


def choose_runs(
    runs: pd.DataFrame, task: str | None, model_uri: str | None
) -> tuple[pd.DataFrame, str]:
    """The runs of the sidebar's task (and model, unless widened) of one chosen kind.

    Returns:
        The described runs to show (:func:`fincast.dashboard.runs.describe_runs`; empty
        when the task has none, with a message on the page) and their kind.
    """
    described = describe_runs(runs)
    of_task = described[described["task"] == task]
    others = described[described["task"] != task]
    if of_task.empty:
        st.info(
            escape_markdown(
                f"No runs of the {task} task in this experiment. Runs of other tasks "
                f"({_counts(others, 'task')}) show when you choose their task in the sidebar."
            )
        )
        return of_task, TRAINING
    kinds = [kind for kind in KINDS if (of_task["kind"] == kind).any()]
    kind = st.radio(
        "Show",
        kinds,
        horizontal=True,
        format_func=lambda name: f"{KIND_NAMES[name]} ({(of_task['kind'] == name).sum()})",
    )
    family = family_of_uri(model_uri)
    of_kind = select_runs(of_task, task, kind)
    of_model = select_runs(of_kind, task, kind, family) if family else of_kind
    widen = of_model.empty or len(of_model) == len(of_kind)
    if family and of_model.empty:
        st.caption(escape_markdown(f"No {KIND_NAMES[kind]} of {family} yet."))
    elif family and not widen:
        widen = st.toggle(f"Every {task} model, not only {family}")
    shown = of_kind if widen else of_model
    scope = ", ".join(sorted({str(model) for model in shown["model"].dropna()})) or "models unknown"
    st.caption(
        escape_markdown(
            f"{KIND_NAMES[kind].capitalize()} of the {task} task ({scope}): {len(shown)}. "
            + (
                f"Other tasks ({_counts(others, 'task')}): choose one in the sidebar."
                if len(others)
                else ""
            )
        )
    )
    return shown, kind


def metric_column(name: str) -> Column | None:
    """A metric column's header (with its unit and scope) and format, when known.

    >>> metric_column("test_mae_vs_naive").label
    "MAE / naive's MAE (ratio), hold-out"
    """
    for prefix, scope in SCOPES.items():
        if name.startswith(prefix):
            known = column_format(name.removeprefix(prefix))
            if known is not None:
                return Column(f"{known.label}, {scope}", known.formatter)
    return None


def table_columns(table: pd.DataFrame) -> dict[str, Column]:
    """Headers and formats of a runs table's metric columns (for ``formatting.styled``)."""
    known = {str(name): metric_column(str(name)) for name in table.columns}
    known["minutes"] = Column("duration (min)", lambda value: significant(value, 2))
    return {name: column for name, column in known.items() if column is not None}


def column_config(table: pd.DataFrame, settings: Settings, kind: str) -> dict[str, Any]:
    """``st.dataframe``'s column headers for a runs table: units, the key score, the link."""
    config: dict[str, Any] = {name: column.label for name, column in table_columns(table).items()}
    tasks = table["task"].dropna().unique()
    key = key_metric(str(tasks[0]) if len(tasks) == 1 else None, kind)
    if key in table:
        config[key] = st.column_config.Column(
            f"key score: {config.get(key, key)}", help=f"{key}; lower is better"
        )
    config["link"] = st.column_config.LinkColumn(
        "MLflow UI",
        display_text="open",
        help=f"The run in the MLflow UI at {settings.mlflow_ui_url}",
    )
    config["started"] = st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm")
    return config
