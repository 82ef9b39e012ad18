"""Runs page: the MLflow experiment as a sortable table, and chosen runs side by side."""

from __future__ import annotations

import streamlit as st

from fincast.dashboard import ui
from fincast.dashboard.content import code_span, escape_markdown
from fincast.dashboard.runs import (
    compare_metrics,
    compare_params,
    run_label,
    runs_table,
    sort_runs,
    sortable_columns,
)

settings = ui.setup("Runs")
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

table = runs_table(runs, settings.mlflow_ui_url)
left, right = st.columns([3, 1])
column = left.selectbox(
    "Sort by", sortable_columns(table), index=sortable_columns(table).index("started")
)
descending = right.toggle("Descending", value=True)
st.dataframe(
    sort_runs(table, column, descending),
    hide_index=True,
    column_config={"link": st.column_config.LinkColumn("MLflow UI", display_text="open")},
)

st.subheader("Compare runs")
labels = {row.run_id: run_label(row) for _, row in runs.iterrows()}
chosen = st.multiselect(
    "Runs to compare", list(labels), default=list(labels)[:2], format_func=lambda run: labels[run]
)
if not chosen:
    st.caption("Choose runs above to see their metrics and configs side by side.")
    st.stop()
st.dataframe(compare_metrics(runs, chosen))
only_differences = st.toggle("Only parameters that differ", value=len(chosen) > 1)
st.dataframe(compare_params(runs, chosen, only_differences))
