"""The Runs page's tables: an MLflow experiment as one sortable table, and runs side by side.

Input is :func:`fincast.tracking.browse.list_runs`' frame (``metrics.*``,
``params.*``, ``tags.*`` columns); output is plain tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

HEADLINE_METRICS = ("test_mae", "test_mae_vs_naive", "test_hit_rate", "test_rmse", "train_seconds")
HEADLINE_TAGS = ("backend", "model_family", "git_commit")
HEADLINE_PARAMS = ("model.name", "task.name", "backend", "data.tickers")


def run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI.

    >>> run_url("http://127.0.0.1:5000", "1", "abc")
    'http://127.0.0.1:5000/#/experiments/1/runs/abc'
    """
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def run_label(row: pd.Series) -> str:
    """``<run name> (<first 8 characters of the id>)``."""
    return f"{row.get('run_name') or 'run'} ({str(row['run_id'])[:8]})"


def table_metrics(names: Sequence[str], limit: int = 40) -> list[str]:
    """The metrics the runs table shows: headline ones, then held-out and walk-forward model scores.

    Per-epoch curves and the baselines' walk-forward scores stay for the side-by-side view.

    >>> table_metrics(["epoch_loss", "wf_naive_mae", "wf_model_mae", "test_mae"])
    ['test_mae', 'wf_model_mae']
    """
    shown = [name for name in HEADLINE_METRICS if name in names]
    shown += sorted(
        name
        for name in names
        if name not in shown and name.startswith(("test_", "wf_model_", "wf_trading_model_"))
    )
    return shown[:limit]


def runs_table(runs: pd.DataFrame, ui_url: str) -> pd.DataFrame:
    """One row per run: name, start, status, duration, headline tags, params and metrics, link.

    ``link`` opens the run in the MLflow UI.
    """
    columns: dict[str, object] = {
        "run": runs["run_name"].fillna(""),
        "run_id": runs["run_id"],
        "started": runs["start_time"].dt.tz_convert(None),  # UTC
        "status": runs["status"],
        "minutes": (runs["end_time"] - runs["start_time"]).dt.total_seconds() / 60,
    }
    for kind, names in (("tags", HEADLINE_TAGS), ("params", HEADLINE_PARAMS)):
        columns.update({name: runs[f"{kind}.{name}"] for name in names if f"{kind}.{name}" in runs})
    metrics = [
        str(c).removeprefix("metrics.") for c in runs.columns if str(c).startswith("metrics.")
    ]
    columns.update({name: runs[f"metrics.{name}"] for name in table_metrics(metrics)})
    columns["link"] = [
        run_url(ui_url, str(experiment), str(run))
        for experiment, run in zip(runs["experiment_id"], runs["run_id"], strict=True)
    ]
    return pd.DataFrame(columns).reset_index(drop=True)


def sortable_columns(table: pd.DataFrame) -> list[str]:
    """The columns a user may sort the runs table by (all but the link)."""
    return [column for column in table.columns if column != "link"]


def sort_runs(table: pd.DataFrame, column: str, descending: bool) -> pd.DataFrame:
    """``table`` sorted by ``column`` (missing values last)."""
    return table.sort_values(column, ascending=not descending, na_position="last", kind="stable")


def _side_by_side(runs: pd.DataFrame, run_ids: Sequence[str], prefix: str) -> pd.DataFrame:
    chosen = runs.set_index("run_id").loc[list(run_ids)]
    columns = sorted(column for column in runs.columns if column.startswith(prefix))
    table = chosen[columns].T
    table.index = [name.removeprefix(prefix) for name in columns]
    table.index.name = prefix.rstrip(".")
    labels = [run_label(row) for _, row in chosen.reset_index().iterrows()]
    table.columns = pd.Index(labels)
    return table.dropna(how="all")


def compare_metrics(runs: pd.DataFrame, run_ids: Sequence[str]) -> pd.DataFrame:
    """Metrics of the chosen runs side by side: one row per metric, one column per run."""
    table = _side_by_side(runs, run_ids, "metrics.")
    return table[[not name.startswith("epoch_") for name in table.index]].astype("float64")


def compare_params(
    runs: pd.DataFrame, run_ids: Sequence[str], only_differences: bool = False
) -> pd.DataFrame:
    """Parameters (the flattened config) of the chosen runs side by side, as text.

    With ``only_differences``, only the parameters whose values are not all equal.
    """
    table = _side_by_side(runs, run_ids, "params.").astype("string").fillna("")
    if only_differences and len(table.columns) > 1:
        table = table[table.nunique(axis=1) > 1]
    return table


def backtest_runs_first(runs: pd.DataFrame, model_run: str | None) -> list[str]:
    """Run ids: backtest runs (``backtest-*``, newest first), the model's run, then the rest."""
    backtests = [
        str(run)
        for run, name in zip(runs["run_id"], runs["run_name"], strict=True)
        if str(name).startswith("backtest-")
    ]
    first = [*backtests, *([model_run] if model_run else [])]
    return list(dict.fromkeys([*first, *map(str, runs["run_id"])]))
