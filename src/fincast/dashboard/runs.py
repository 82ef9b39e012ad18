"""The Runs page's tables: an MLflow experiment's runs, kept apart by task and kind.

Input is :func:`fincast.tracking.browse.list_runs`' frame (``metrics.*``,
``params.*``, ``tags.*`` columns); output is plain tables. Every run gets a kind
(a training run, a walk-forward backtest or a sweep), a task and a model, so a table
never puts a return model's score beside a volatility model's, or a hold-out score
beside a walk-forward one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fincast.tracking.names import parse_registered_name

TRAINING, BACKTEST, SWEEP = "training", "backtest", "sweep"
KINDS = (TRAINING, BACKTEST, SWEEP)
FIRST_COLUMNS = ("run", "task", "model", "backend")
DETAIL_PARAMS = ("data.tickers", "task.horizon", "evaluation.folds")


def run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI.

    >>> run_url("http://127.0.0.1:5000", "1", "abc")
    'http://127.0.0.1:5000/#/experiments/1/runs/abc'
    """
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def run_label(row: pd.Series) -> str:
    """``<run name> (<first 8 characters of the id>)``."""
    return f"{row.get('run_name') or 'run'} ({str(row['run_id'])[:8]})"


def _text(row: pd.Series, column: str) -> str | None:
    value = row.get(column)
    return None if value is None or pd.isna(value) or str(value) == "" else str(value)


def run_kind(row: pd.Series) -> str:
    """``backtest`` (``fincast-backtest``), ``sweep`` (a multirun's parent) or ``training``."""
    name = _text(row, "run_name") or ""
    if _text(row, "tags.fincast_command") == BACKTEST or name.startswith("backtest-"):
        return BACKTEST
    if _text(row, "tags.fincast.children") is not None or name.startswith("sweep "):
        return SWEEP
    return TRAINING


def _name_parts(row: pd.Series) -> tuple[str | None, str | None]:
    """Task and model from ``backtest-<task>-<model>-<backend>``, the registered name or
    the model file's folder (``.../fincast-<task>-<family>/<stamp>.keras``)."""
    name = _text(row, "run_name") or ""
    parts = name.split("-")
    if name.startswith("backtest-") and len(parts) >= 3:
        return parts[1], parts[2]
    for registered in (
        _text(row, "tags.fincast.registered_name"),
        Path(_text(row, "tags.model_file") or "").parent.name,
    ):
        parsed = parse_registered_name(registered or "")
        if parsed:
            return parsed.task, parsed.family
    return None, None


def run_task(row: pd.Series) -> str | None:
    """The run's task: its ``task.name`` param, else what its name says (``None``: unknown)."""
    return _text(row, "params.task.name") or _name_parts(row)[0]


def run_model(row: pd.Series) -> str | None:
    """The run's model family: its ``model.name`` param, else what its name says."""
    return _text(row, "params.model.name") or _name_parts(row)[1]


def run_backend(row: pd.Series) -> str | None:
    """The backend the run really used: the ``backend`` tag (the param may say ``auto``)."""
    requested = _text(row, "params.backend")
    return _text(row, "tags.backend") or (requested if requested != "auto" else None)


def describe_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``kind``, ``task``, ``model`` and ``backend`` columns added."""
    rows = [row for _, row in runs.iterrows()]
    facts = {
        "kind": run_kind,
        "task": run_task,
        "model": run_model,
        "backend": run_backend,
    }
    columns = {
        name: pd.Series([fact(row) for row in rows], index=runs.index, dtype=object)
        for name, fact in facts.items()
    }
    return runs.assign(**columns)


def select_runs(
    described: pd.DataFrame, task: str | None, kind: str, model: str | None = None
) -> pd.DataFrame:
    """The described runs of one kind and task (and model family, when given).

    A ``None`` task keeps every task (and the table then mixes tasks: callers avoid it).
    """
    keep = described["kind"] == kind
    if task is not None:
        keep &= described["task"] == task
    if model is not None:
        keep &= described["model"] == model
    return described[keep]


def family_of_uri(uri: str | None) -> str | None:
    """The model family a model URI names (``models:/fincast-<task>-<family>...`` or a file).

    >>> family_of_uri("models:/fincast-returns-lstm@champion")
    'lstm'
    >>> family_of_uri("models/fincast-volatility-mlp/20260101T000000.keras")
    'mlp'
    >>> family_of_uri("runs:/abc/model") is None
    True
    """
    if not uri:
        return None
    if uri.startswith("models:/"):
        name = uri.removeprefix("models:/").split("/")[0].split("@")[0]
    elif uri.endswith(".keras"):
        name = Path(uri).parent.name
    else:
        return None
    parsed = parse_registered_name(name)
    return parsed.family if parsed else None


def key_metric(task: str | None, kind: str) -> str:
    """The score a table of ``kind`` runs of ``task`` leads with (lower is better).

    Training runs: the hold-out MAE relative to the naive forecast (the champion rule's
    score); backtests: the walk-forward loss relative to the task's reference baseline;
    sweeps: the best validation loss.

    >>> key_metric("volatility", "backtest")
    'wf_model_loss_vs_har'
    >>> key_metric("returns", "training")
    'test_mae_vs_naive'
    """
    if kind == BACKTEST:
        from fincast.evaluation.tasks import task_named

        try:
            return f"wf_model_loss_vs_{task_named(task or '').reference}"
        except (KeyError, ValueError):
            return "wf_model_mae"
    return "best_val_loss" if kind == SWEEP else "test_mae_vs_naive"


def table_metrics(names: Sequence[str], kind: str | None = None, limit: int = 30) -> list[str]:
    """The model's own scores a runs table shows after its key columns, sorted by name.

    ``kind`` narrows them to a training run's hold-out scores, a backtest's walk-forward
    ones or a sweep's best; per-epoch curves and the baselines' scores stay for the
    side-by-side view.

    >>> table_metrics(["epoch_loss", "wf_naive_mae", "wf_model_mae", "test_mae"])
    ['test_mae', 'wf_model_mae']
    >>> table_metrics(["wf_model_mae", "test_naive_mae", "test_mae"], kind="training")
    ['test_mae']
    """
    prefixes = {
        None: ("test_", "wf_model_", "wf_trading_model_"),
        TRAINING: ("test_", "train_seconds", "epochs_run", "best_val_loss"),
        BACKTEST: ("wf_model_", "wf_trading_model_"),
        SWEEP: ("best_", "optuna."),
    }[kind]
    baselines = ("test_naive_", "test_historical_mean_")  # the hold-out baselines
    shown = [name for name in names if name.startswith(prefixes)]
    return sorted(name for name in shown if not name.startswith(baselines))[:limit]


def join_tickers(value: object) -> str:
    """A ``data.tickers`` param (JSON list) as ``^GSPC, ^IXIC``.

    >>> join_tickers('["^GSPC", "^IXIC"]')
    '^GSPC, ^IXIC'
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError:
        return str(value)
    return ", ".join(map(str, parsed)) if isinstance(parsed, list) else str(parsed)


def runs_table(described: pd.DataFrame, ui_url: str, kind: str = TRAINING) -> pd.DataFrame:
    """One row per run: name, task, model, backend, key score, MLflow link, then the rest.

    Args:
        described: :func:`describe_runs`' frame, already narrowed to one task and kind.
        ui_url: the MLflow UI; ``link`` opens the run there.
        kind: the runs' kind, which decides the key score (:func:`key_metric`).
    """
    tasks = described["task"].dropna().unique()
    key = key_metric(str(tasks[0]) if len(tasks) == 1 else None, kind)
    columns: dict[str, object] = {"run": described["run_name"].fillna("")}
    columns.update({name: described[name] for name in FIRST_COLUMNS[1:]})
    columns[key] = described.get(f"metrics.{key}", pd.Series(float("nan"), described.index))
    columns["link"] = [
        run_url(ui_url, str(experiment), str(run))
        for experiment, run in zip(described["experiment_id"], described["run_id"], strict=True)
    ]
    columns["started"] = described["start_time"].dt.tz_convert(None)  # UTC
    columns["status"] = described["status"]
    columns["minutes"] = (described["end_time"] - described["start_time"]).dt.total_seconds() / 60
    if "params.data.tickers" in described:
        columns["tickers"] = described["params.data.tickers"].map(join_tickers)
    details = DETAIL_PARAMS[1:] if kind == BACKTEST else DETAIL_PARAMS[1:2]
    for name in details:
        if f"params.{name}" in described:
            columns[name] = described[f"params.{name}"]
    metrics = [str(c).removeprefix("metrics.") for c in described if str(c).startswith("metrics.")]
    present = [name for name in metrics if described[f"metrics.{name}"].notna().any()]
    for name in table_metrics(present, kind):
        columns.setdefault(name, described[f"metrics.{name}"])
    columns["run_id"] = described["run_id"]
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
