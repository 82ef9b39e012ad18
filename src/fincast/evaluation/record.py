"""Record a walk-forward backtest in MLflow: config, tags, metrics, tables, verdicts, plots."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.evaluation.report import Report
from fincast.tracking.provenance import git_tags, library_versions
from fincast.tracking.run_tracker import RunTracker


def _key(text: str) -> str:
    """An MLflow-safe metric key fragment (``^GSPC`` -> ``GSPC``)."""
    return re.sub(r"[^\w.-]", "", text)


def table_metrics(table: pd.DataFrame, prefix: str) -> dict[str, float]:
    """``<prefix><row>_<column>`` for every numeric cell of ``table``.

    >>> table_metrics(pd.DataFrame({"mse": [1.0]}, index=["model"]), "wf_")
    {'wf_model_mse': 1.0}
    """
    numeric = table.select_dtypes("number")
    return {
        f"{prefix}{_key(str(row))}_{_key(str(column))}": float(value)
        for row, values in numeric.iterrows()
        for column, value in values.items()
    }


def report_metrics(report: Report, prefix: str = "wf_") -> dict[str, float]:
    """The scores (with DM p-values) and the trading table of one report as flat metrics."""
    metrics = table_metrics(report.scores, prefix)
    if report.trading is not None:
        metrics.update(table_metrics(report.trading, f"{prefix}trading_"))
    return metrics


def record_backtest(
    tracker: RunTracker,
    reports: Sequence[Report],
    files: Sequence[Path],
    params: Mapping[str, Any],
    config_yaml: str,
    tags: Mapping[str, str],
) -> None:
    """Log a walk-forward backtest to ``tracker``'s run (one report per ticker).

    With one ticker the metrics are ``wf_<forecaster>_<metric>``; with several,
    ``wf_<ticker>_<forecaster>_<metric>``. Tables, the report JSON and the plots
    are logged as artifacts under ``backtest/<ticker>/``.
    """
    tracker.log_params(params)
    comparison = {
        "dm_test": str(reports[0].meta.get("dm_test", "")) if reports else "",
        "dm_test_name": str(reports[0].meta.get("dm_test_name", "")) if reports else "",
    }
    tracker.set_tags(
        {**tags, **git_tags(), **library_versions(), **comparison, "fincast_command": "backtest"}
    )
    tracker.log_text(config_yaml, "config/config.yaml")
    several = len(reports) > 1
    for report in reports:
        ticker = report.backtest.ticker
        prefix = f"wf_{_key(ticker)}_" if several else "wf_"
        tracker.log_metrics(report_metrics(report, prefix))
        lines = [*report.verdicts, *(report.confidence.lines() if report.confidence else [])]
        tracker.log_text("\n".join(lines) + "\n", f"backtest/{_key(ticker)}/verdicts.txt")
    for path in files:
        tracker.log_file(path, f"backtest/{path.parent.name}")
