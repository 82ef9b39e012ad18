"""Runs page: the runs of the sidebar's task and model as a sortable table, and runs side by side.

Training runs, backtests and sweeps are kept apart, and so are tasks, so a score is
only ever sorted or compared against the same kind of score.
"""

from __future__ import annotations

import streamlit as st

from fincast.dashboard import run_filters, ui
from fincast.dashboard.content import code_span, escape_markdown
from fincast.dashboard.formatting import styled
from fincast.dashboard.runs import (
    compare_metrics,
    compare_params,
    run_label,
    runs_table,
    sort_runs,
    sortable_columns,
)

settings = ui.setup("Runs")
model_uri = ui.pick_model(settings)
st.link_button("Open the MLflow UI", settings.mlflow_ui_url)
st.caption(
    f"The MLflow UI at {escape_markdown(settings.mlflow_ui_url)} shows every detail of a "
    "run; start it with `make ui`."
)
if settings.store_missing():
    st.info(
        f"No MLflow store at {code_span(settings.tracking_uri)} yet. Train a model "
        "with `make run` (or `fincast-train`), or set FINCAST_TRACKING_URI to your store."
    )
    st.stop()
runs, why = ui.runs_of(settings.tracking_uri, settings.experiment)
if runs is None:
    ui.error(why or "The MLflow store cannot be read.")
    st.stop()
if runs.empty:
    st.info(
        f"The experiment {code_span(settings.experiment)} has no runs yet. "
        "Train a model with `make run` (or `fincast-train`)."
    )
    st.stop()

shown, kind = run_filters.choose_runs(runs, run_filters.sidebar_task(model_uri), model_uri)
if shown.empty:
    st.stop()
table = runs_table(shown, settings.mlflow_ui_url, kind)
left, right = st.columns([3, 1])
column = left.selectbox(
    "Sort by", sortable_columns(table), index=sortable_columns(table).index("started")
)
descending = right.toggle("Descending", value=True)
sorted_table = sort_runs(table, column, descending)
st.dataframe(
    styled(sorted_table, run_filters.table_columns(table)),
    hide_index=True,
    column_config=run_filters.column_config(table, settings, kind),
)

st.subheader("Compare runs")
labels = {row.run_id: run_label(row) for _, row in shown.iterrows()}
chosen = st.multiselect(
    f"Runs to compare ({run_filters.KIND_NAMES[kind]} of this task only)",
    list(labels),
    default=list(table["run_id"])[:2],  # the newest two
    format_func=lambda run: labels[run],
)
if not chosen:
    st.caption("Choose runs above to see their metrics and configs side by side.")
    st.stop()
st.dataframe(compare_metrics(shown, chosen))
only_differences = st.toggle("Only parameters that differ", value=len(chosen) > 1)
st.dataframe(compare_params(shown, chosen, only_differences))
