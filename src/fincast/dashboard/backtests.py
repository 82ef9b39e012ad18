"""Read saved walk-forward backtest results for the dashboard; never recompute them.

A result is a folder written by :func:`fincast.evaluation.report.save_report`, on disk
or among an MLflow run's artifacts::

    report.json          meta (ticker, task, horizon, folds, dates), verdicts, tables
    scores.csv           one row per forecaster: metrics, cover_80/cover_90, dm_p_<step>
    folds.csv            one row per fold: dates, sizes, loss_<forecaster>
    loss_by_horizon.csv  mean loss per forecaster and step
    trading.csv          one row per strategy (buy_and_hold included)
    equity.csv           growth of 1 per strategy, indexed by date
    probabilistic.csv    per quantile forecaster, step (all, h1...) and central interval:
                         target, coverage, width, winkler, crps, wis

Any file may be missing; the page shows what there is. :class:`SavedBacktest` describes
one result before it is read (model, task, date, folds), so the page can list only the
backtests of the task and model chosen in the sidebar.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

REPORT_FILE = "report.json"
TABLES = ("scores", "folds", "loss_by_horizon", "trading", "equity", "probabilistic")
# report.json's copies of the tables (the page reads the CSV files)
JSON_TABLES = ("scores", "loss_by_horizon", "trading", "fold_table", "probabilistic")
_COVER = re.compile(r"^cover_(\d+)$")
_DM = re.compile(r"^dm_p_(.+)$")


@dataclass
class BacktestResult:
    """The tables of one saved backtest (one ticker); ``None`` where a file is missing."""

    label: str
    meta: dict[str, Any] = field(default_factory=dict)
    verdicts: list[str] = field(default_factory=list)
    scores: pd.DataFrame | None = None
    folds: pd.DataFrame | None = None
    loss_by_horizon: pd.DataFrame | None = None
    trading: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None
    probabilistic: pd.DataFrame | None = None

    def summary(self) -> str:
        """One line: ticker, task, horizon, folds, origins and dates (what is known)."""
        meta = self.meta
        parts = [
            str(meta.get("ticker", self.label)),
            f"{meta['task']} task" if meta.get("task") else "",
            f"{meta['horizon']}-day horizon" if meta.get("horizon") else "",
            f"{meta['folds']} folds" if meta.get("folds") else "",
            f"{meta['windows']} test origins" if meta.get("windows") else "",
        ]
        if meta.get("first_origin"):
            parts.append(f"{meta['first_origin']} to {meta.get('last_origin', '?')}")
        return ", ".join(part for part in parts if part)


def _read_table(path: Path, *, dates: bool = False) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    table = pd.read_csv(path, index_col=0)
    if dates:
        table.index = pd.to_datetime(table.index)
    return table


def read_result(folder: str | Path, label: str | None = None) -> BacktestResult:
    """Read one saved backtest folder (``report.json`` and whichever CSV tables exist).

    Raises:
        ValueError: ``report.json`` is not valid JSON, naming the file.
    """
    folder = Path(folder)
    meta: dict[str, Any] = {}
    report = folder / REPORT_FILE
    if report.is_file():
        try:
            meta = dict(json.loads(report.read_text()))
        except json.JSONDecodeError as error:
            raise ValueError(
                f"Backtest report {str(report)!r} is not valid JSON: {error}"
            ) from None
    tables = {name: _read_table(folder / f"{name}.csv", dates=name == "equity") for name in TABLES}
    verdicts = [str(line) for line in meta.pop("verdicts", []) or []]
    for name in JSON_TABLES:  # the tables, read from their CSV files instead
        meta.pop(name, None)
    return BacktestResult(label or folder.name, meta, verdicts, **tables)


def find_local_results(root: str | Path, limit: int = 50) -> list[Path]:
    """Folders under ``root`` that hold a ``report.json``, newest first (at most ``limit``)."""
    base = Path(root)
    if not base.is_dir():
        return []
    folders = [path.parent for path in base.rglob(REPORT_FILE)]
    folders.sort(key=lambda path: (path / REPORT_FILE).stat().st_mtime, reverse=True)
    return folders[:limit]


def result_folders(files: list[str]) -> list[str]:
    """The artifact folders (relative paths) that hold a ``report.json``, sorted.

    >>> result_folders(["backtest/AAPL/report.json", "backtest/AAPL/scores.csv", "x.txt"])
    ['backtest/AAPL']
    """
    folders = {path.rsplit("/", 1)[0] if "/" in path else "" for path in files}
    return sorted(f for f in folders if f"{f}/{REPORT_FILE}".lstrip("/") in set(files))


def split_scores(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores table as (metrics, DM p-values): p-values per baseline and step.

    The DM table has one row per baseline and one column per step (``h1``...) and ``all``.
    """
    dm_columns = [name for name in scores.columns if _DM.match(str(name))]
    metrics = scores.drop(columns=dm_columns)
    metrics = metrics.loc[:, metrics.notna().any(axis=0)]
    tests = scores[dm_columns].dropna(how="all")
    tests.columns = [_DM.sub(r"\1", str(name)) for name in dm_columns]
    tests.index.name = "model against"
    return metrics, tests


def calibration_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Nominal and empirical coverage of every interval (``cover_80`` -> 0.8) per forecaster.

    Forecasters without intervals (NaN coverage) are left out.
    """
    rows = []
    for column in scores.columns:
        matched = _COVER.match(str(column))
        if not matched:
            continue
        for forecaster, value in scores[column].dropna().items():
            rows.append(
                {
                    "forecaster": str(forecaster),
                    "nominal": int(matched.group(1)) / 100,
                    "empirical": float(value),
                }
            )
    return pd.DataFrame(rows, columns=["forecaster", "nominal", "empirical"])


def probabilistic_rows(table: pd.DataFrame, step: str | None = "all") -> pd.DataFrame:
    """The probabilistic scores of one step (``None``: every step), the forecaster a column.

    >>> table = pd.DataFrame({"step": ["all", "h1"], "crps": [0.2, 0.1]}, index=["m", "m"])
    >>> probabilistic_rows(table).to_dict("records")
    [{'forecaster': 'm', 'crps': 0.2}]
    """
    if step is not None:
        table = table[table["step"].astype(str) == step].drop(columns="step")
    rows = table.reset_index()
    return rows.rename(columns={str(rows.columns[0]): "forecaster"})


def verdict_parts(line: str) -> tuple[str, str]:
    """A report verdict line split into its headline and its per-step details.

    >>> verdict_parts("model vs naive: worse than naive (p=0.01); per step: h1 worse (p=0.02)")
    ('model vs naive: worse than naive (p=0.01)', 'h1 worse (p=0.02)')
    >>> verdict_parts("model vs ar5: worse than ar5 (p=0.01) [h1: worse than ar5 (p=0.02)]")
    ('model vs ar5: worse than ar5 (p=0.01)', 'h1: worse than ar5 (p=0.02)')
    """
    for marker, end in (("; per step: ", ""), (" [", "]")):
        if marker in line:
            head, _, rest = line.partition(marker)
            return head.strip(), rest.removesuffix(end).strip() if end else rest.strip()
    return line.strip(), ""


@dataclass(frozen=True)
class SavedBacktest:
    """One saved backtest the page can open, described before it is read.

    Attributes:
        where: the MLflow run id, or the folder on disk.
        task: the task it forecast (``None``: unknown).
        model: the model family it backtested (``None``: unknown).
        started: when it ran (UTC), if known.
        folds: its number of walk-forward folds, if known.
        tickers: the tickers it covered, as text.
    """

    where: str
    task: str | None
    model: str | None
    started: datetime | None = None
    folds: int | None = None
    tickers: str = ""

    @property
    def label(self) -> str:
        """Model, task, date, folds and tickers, joined by `` · ``.

        >>> SavedBacktest("x", "returns", "lstm", datetime(2026, 1, 2, 9, 30, tzinfo=UTC), 2).label
        'lstm · returns · 2026-01-02 09:30 UTC · 2 folds'
        """
        parts = [
            self.model or "model unknown",
            self.task or "task unknown",
            f"{self.started:%Y-%m-%d %H:%M} UTC" if self.started else "date unknown",
            f"{self.folds} folds" if self.folds is not None else "folds unknown",
        ]
        return " · ".join([*parts, *([self.tickers] if self.tickers else [])])

    def follows(self, task: str | None, model: str | None) -> bool:
        """Whether this backtest is of ``task`` and of ``model`` (any model when ``None``).

        An unknown model follows any model; an unknown task follows none.
        """
        return self.task == task and (model is None or self.model in (model, None))


def _integer(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def run_backtests(described: pd.DataFrame) -> list[SavedBacktest]:
    """The backtest runs among described runs, in their order (newest first).

    Args:
        described: :func:`fincast.dashboard.runs.describe_runs`' frame.
    """
    from fincast.dashboard.runs import BACKTEST, join_tickers

    found = []
    for _, row in described[described["kind"] == BACKTEST].iterrows():
        started = row.get("start_time")
        found.append(
            SavedBacktest(
                where=str(row["run_id"]),
                task=row["task"],
                model=row["model"],
                started=None if pd.isna(started) else pd.Timestamp(started).to_pydatetime(),
                folds=_integer(row.get("params.evaluation.folds")),
                tickers=join_tickers(row.get("params.data.tickers")),
            )
        )
    return found


def _hydra_model(folder: Path) -> str | None:
    """The model family in the Hydra config saved beside ``<output>/backtest/<ticker>``."""
    import yaml

    config = folder.parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    try:
        model = (yaml.safe_load(config.read_text()) or {}).get("model") or {}
    except (yaml.YAMLError, AttributeError):
        return None
    return str(model["name"]) if isinstance(model, dict) and model.get("name") else None


def folder_backtest(folder: str | Path) -> SavedBacktest:
    """A saved folder described from its ``report.json`` and its run's Hydra config."""
    folder = Path(folder)
    report = folder / REPORT_FILE
    try:
        meta = dict(json.loads(report.read_text()))
    except (OSError, json.JSONDecodeError, ValueError):
        meta = {}
    stamp = report.stat().st_mtime if report.is_file() else None
    return SavedBacktest(
        where=str(folder),
        task=str(meta["task"]) if meta.get("task") else None,
        model=_hydra_model(folder),
        started=None if stamp is None else datetime.fromtimestamp(stamp, tz=UTC),
        folds=_integer(meta.get("folds")),
        tickers=str(meta.get("ticker") or ""),
    )
