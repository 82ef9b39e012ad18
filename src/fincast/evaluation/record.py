"""Record a walk-forward backtest in MLflow: config, tags, metrics, tables, verdicts, plots."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.evaluation.report import Report, json_value
from fincast.evaluation.universe import Universe
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
    """The scores (with DM p-values), the trading table and the per-step probabilistic
    scores (:func:`step_metrics`) of one report as flat metrics."""
    metrics = table_metrics(report.scores, prefix)
    if report.trading is not None:
        metrics.update(table_metrics(report.trading, f"{prefix}trading_"))
    if report.probabilistic is not None:
        metrics.update(step_metrics(report.probabilistic, prefix))
    return metrics


def step_metrics(table: pd.DataFrame, prefix: str) -> dict[str, float]:
    """Per-step probabilistic scores as ``<prefix><forecaster>_<score>_h<k>``.

    Interval scores carry the interval's size (``cover_80_h1``, ``winkler_80_h1``); the
    overall ones are in the scores table already (``wf_model_crps``).

    >>> row = {"step": "h1", "target": 0.8, "coverage": 0.75, "width": 0.02,
    ...        "winkler": 0.03, "crps": 0.004, "wis": 0.005}
    >>> sorted(step_metrics(pd.DataFrame([row], index=["model"]), "wf_"))[:2]
    ['wf_model_cover_80_h1', 'wf_model_crps_h1']
    """
    metrics: dict[str, float] = {}
    names = {"coverage": "cover", "width": "width", "winkler": "winkler"}
    for forecaster, row in table[table["step"] != "all"].iterrows():
        start = f"{prefix}{_key(str(forecaster))}_"
        step = str(row["step"])
        if pd.notna(row["target"]):
            size = round(100 * float(row["target"]))
            for column, name in names.items():
                metrics[f"{start}{name}_{size}_{step}"] = float(row[column])
        for column in ("crps", "wis"):
            metrics[f"{start}{column}_{step}"] = float(row[column])
    return metrics


def universe_metrics(universe: Universe) -> dict[str, float]:
    """A universe's headline figures as metrics ``universe_*`` (missing or NaN ones left out)."""
    summary = universe.summary
    ic, rank_ic = summary.get("ic") or {}, summary.get("rank_ic") or {}
    book = (summary.get("portfolios") or {}).get("long_short") or {}
    dm = summary["dm"]
    values = {
        "universe_ic_mean": ic.get("mean"),
        "universe_icir": ic.get("icir"),
        "universe_ic_t_stat": ic.get("t_stat"),
        "universe_rank_ic_mean": rank_ic.get("mean"),
        "universe_rank_icir": rank_ic.get("icir"),
        "universe_long_short_annual": book.get("annual_return"),
        "universe_long_short_net_annual": book.get("net_annual_return"),
        "universe_long_short_sharpe": book.get("sharpe"),
        "universe_long_short_turnover": book.get("mean_turnover"),
        "universe_dm_tested": dm["tested"],
        "universe_dm_bh_wins": dm["bh"]["better"],
        "universe_dm_bh_losses": dm["bh"]["worse"],
        "universe_dm_holm_wins": dm["holm"]["better"],
        "universe_tickers": summary["tickers"],
        "universe_left_out": len(summary["left_out"]),
    }
    plain = {key: json_value(value) for key, value in values.items()}
    return {key: float(value) for key, value in plain.items() if value is not None}


def record_backtest(
    tracker: RunTracker,
    reports: Sequence[Report],
    files: Sequence[Path],
    params: Mapping[str, Any],
    config_yaml: str,
    tags: Mapping[str, str],
    universe: Universe | None = None,
) -> None:
    """Log a walk-forward backtest to ``tracker``'s run (one report per ticker).

    With one ticker the metrics are ``wf_<forecaster>_<metric>``; with several,
    ``wf_<ticker>_<forecaster>_<metric>``. Tables, the report JSON and the plots
    are logged as artifacts under ``backtest/<ticker>/`` (each file under its folder's
    name: the universe files, saved in ``universe/``, under ``backtest/universe/``).
    A universe's headline figures are logged as :func:`universe_metrics`, and the
    tickers it left out as the ``left_out`` tag.
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
    if universe is not None:
        tracker.log_metrics(universe_metrics(universe))
        left_out = universe.summary["left_out"]
        tracker.set_tags({"left_out": ", ".join(left_out) if left_out else "none"})
    for path in files:
        tracker.log_file(path, f"backtest/{path.parent.name}")
