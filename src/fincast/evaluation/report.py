"""Score a walk-forward :class:`~fincast.evaluation.walkforward.Backtest`: metrics, DM, trading.

The scores table has one row per forecaster (the model first): the task's metrics,
then the Diebold-Mariano p-values of the model against that row's baseline at each
horizon step and over all steps. Skill is claimed only where DM says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fincast.evaluation.backtest_record import Backtest
from fincast.evaluation.confidence import Confidence, add_to_scores, confidence
from fincast.evaluation.forecasters import MODEL
from fincast.evaluation.probabilistic import add_to_scores as add_probabilistic
from fincast.evaluation.probabilistic import (
    probabilistic_lines,
    probabilistic_table,
    stretch_lines,
)
from fincast.evaluation.stats import (
    SIGNIFICANCE,
    TEST_NAMES,
    DMResult,
    DMTest,
    diebold_mariano,
    p_text,
    verdict,
)
from fincast.evaluation.tasks import task_named
from fincast.evaluation.trading import Strategy, trade


@dataclass
class Report:
    """Every table of one backtest, ready to print, save and log."""

    backtest: Backtest
    scores: pd.DataFrame
    losses: pd.DataFrame
    verdicts: list[str]
    trading: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    confidence: Confidence | None = None
    # quantile forecasters' interval, CRPS and WIS scores per step (probabilistic_table)
    probabilistic: pd.DataFrame | None = None


def compare(backtest: Backtest, baseline: str, test: DMTest = "hac") -> dict[str, DMResult]:
    """DM tests of the model against ``baseline`` per step (``h1``...) and on the mean (``all``)."""
    losses = task_named(backtest.task).loss_values
    model_loss = losses(backtest.actual, backtest.point(MODEL))
    baseline_loss = losses(backtest.actual, backtest.point(baseline))
    results = {
        f"h{step + 1}": diebold_mariano(
            model_loss[:, step], baseline_loss[:, step], step + 1, test=test
        )
        for step in range(backtest.horizon)
    }
    results["all"] = diebold_mariano(
        model_loss.mean(axis=1), baseline_loss.mean(axis=1), backtest.horizon, test=test
    )
    return results


def compare_mean_loss(backtest: Backtest, baseline: str, test: DMTest = "hac") -> DMResult:
    """The DM test of the model against ``baseline`` on the mean loss over the horizon
    (``compare(...)["all"]`` without the per-step tests)."""
    losses = task_named(backtest.task).loss_values
    model_loss = losses(backtest.actual, backtest.point(MODEL)).mean(axis=1)
    baseline_loss = losses(backtest.actual, backtest.point(baseline)).mean(axis=1)
    return diebold_mariano(model_loss, baseline_loss, backtest.horizon, test=test)


def score_table(backtest: Backtest, test: DMTest = "hac") -> tuple[pd.DataFrame, list[str]]:
    """The scores table (metrics + DM p-values) and one verdict line per baseline."""
    row_of = task_named(backtest.task).metrics
    rows = {name: row_of(backtest, name) for name in backtest.forecasts}
    verdicts = []
    if MODEL in backtest.forecasts:
        for baseline in backtest.baselines:
            tests = compare(backtest, baseline, test)
            rows[baseline].update({f"dm_p_{key}": test.p_value for key, test in tests.items()})
            verdicts.append(verdict_line(tests, baseline))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "forecaster"
    return with_loss_ratio(add_probabilistic(table, backtest), backtest), verdicts


def with_loss_ratio(table: pd.DataFrame, backtest: Backtest) -> pd.DataFrame:
    """``table`` with ``loss_vs_<reference>``: each mean task loss over the reference's
    (the random walk for returns, HAR for volatility), when the reference was scored."""
    task = task_named(backtest.task)
    if task.reference not in backtest.forecasts:
        return table
    means = loss_table(backtest).mean(axis=1)
    ratio = means / means[task.reference]
    table[f"loss_vs_{task.reference}"] = [float(ratio[name]) for name in table.index]
    return table


def strongest_baseline(backtest: Backtest) -> str | None:
    """The baseline with the lowest mean task loss (``None`` without baselines)."""
    if not backtest.baselines:
        return None
    means = loss_table(backtest).mean(axis=1)
    return str(min(backtest.baselines, key=lambda name: float(means[name])))


def verdict_line(tests: dict[str, DMResult], baseline: str) -> str:
    """``model vs X: <verdict on the mean loss>; per step: <the significant steps>``."""
    significant = [
        f"{key} {verdict(test, baseline).split(' (')[0]} ({p_text(test.p_value)})"
        for key, test in tests.items()
        if key != "all" and test.p_value < SIGNIFICANCE
    ]
    steps = ", ".join(significant) if significant else "no step differs significantly"
    return f"model vs {baseline}: {verdict(tests['all'], baseline)}; per step: {steps}"


def loss_table(backtest: Backtest) -> pd.DataFrame:
    """Mean task loss per forecaster (rows) and horizon step (columns)."""
    losses = task_named(backtest.task).loss_values
    table = pd.DataFrame(
        {
            name: losses(backtest.actual, backtest.point(name)).mean(axis=0)
            for name in backtest.forecasts
        }
    ).T
    table.columns = [f"h{step + 1}" for step in range(backtest.horizon)]
    table.index.name = "forecaster"
    return table


def build_report(
    backtest: Backtest,
    strategy: Strategy | None = None,
    *,
    dm_test: DMTest = "hac",
    mcs_size: float | None = 0.10,
) -> Report:
    """Every table of ``backtest``; the trading view for the returns task.

    Args:
        backtest: the forecasts to score.
        strategy: the trading rule (returns task).
        dm_test: the Diebold-Mariano variant (:mod:`fincast.evaluation.stats`).
        mcs_size: the Model Confidence Set's size (``None``: no MCS / SPA).
    """
    scores, verdicts = score_table(backtest, dm_test)
    sets = confidence(backtest, size=mcs_size) if mcs_size and len(backtest.forecasts) > 1 else None
    if sets is not None:
        scores = add_to_scores(scores, sets)
    report = Report(backtest, scores, loss_table(backtest), verdicts, confidence=sets)
    report.probabilistic = probabilistic_table(backtest)
    directional = task_named(backtest.task).directional
    if directional:
        one_day = {name: backtest.point(name)[:, 0] for name in backtest.forecasts}
        report.trading, report.equity = trade(
            one_day, backtest.actual[:, 0], strategy or Strategy()
        )
        # a row's equity includes the return earned on the origin's next trading day
        report.equity.index = pd.DatetimeIndex(backtest.target_start, name="date")
    report.meta = {
        "task": backtest.task,
        "ticker": backtest.ticker,
        "horizon": backtest.horizon,
        "folds": len(backtest.folds),
        "windows": len(backtest.origins),
        "first_origin": str(backtest.origins.min().date()),
        "last_origin": str(backtest.origins.max().date()),
        "strategy": vars(strategy or Strategy()) if directional else None,
        # the tickers the model was fitted on in every fold (pooled: all; else this one)
        "model_fitted_on": list(backtest.fitted_on),
        # days whose daily variance is not Garman-Klass (fincast.data.features.daily_variance)
        "data_quirks": dict(backtest.quirks),
        "strongest_baseline": strongest_baseline(backtest),
        "dm_test": dm_test,
        "dm_test_name": TEST_NAMES[dm_test],
        "mcs": None
        if sets is None
        else {"size": sets.size, "included": sets.included, "block": sets.block},
        "spa_p": None if sets is None else sets.spa_p,
    }
    return report


def _json_table(table: pd.DataFrame | None, orient: str = "index") -> Any:
    """``table`` as JSON-ready values: every float exact (a round trip), NaN as null."""
    if table is None:
        return None
    records = table.reset_index().to_dict(orient="records")
    rows = [{str(key): json_value(value) for key, value in row.items()} for row in records]
    if orient == "records":
        return rows
    key = str(table.index.name or "index")
    return {str(row.pop(key)): row for row in rows}


def json_value(value: Any) -> Any:
    """A plain JSON value: numpy scalars as Python, NaN and infinities as null, dates as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def save_report(report: Report, directory: str | Path) -> list[Path]:
    """Write the tables (CSV), the forecasts (CSV) and everything as ``report.json``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "scores": report.scores,
        "loss_by_horizon": report.losses,
        "folds": report.backtest.folds,
        "trading": report.trading,
        "equity": report.equity,
        "forecasts": forecast_frame(report.backtest),
        "probabilistic": report.probabilistic,
    }
    written = []
    for name, table in tables.items():
        if table is not None:
            written.append(folder / f"{name}.csv")
            table.to_csv(written[-1])
    payload = {
        **report.meta,
        "verdicts": report.verdicts,
        **{name: _json_table(tables[name]) for name in ("scores", "loss_by_horizon", "trading")},
        "fold_table": _json_table(report.backtest.folds, orient="records"),
        "probabilistic": _json_table(report.probabilistic, orient="records"),
    }
    written.append(folder / "report.json")
    written[-1].write_text(json.dumps(payload, indent=2, default=str))
    return written


def forecast_frame(backtest: Backtest) -> pd.DataFrame:
    """Long table: origin, fold, step, actual and each forecaster's point forecast."""
    steps = np.arange(1, backtest.horizon + 1)
    frame = pd.DataFrame(
        {
            "origin": np.repeat(backtest.origins, backtest.horizon),
            "fold": np.repeat(backtest.fold, backtest.horizon),
            "step": np.tile(steps, len(backtest.origins)),
            "actual": backtest.actual.ravel(),
        }
    )
    for name in backtest.forecasts:
        frame[name] = backtest.point(name).ravel()
    return frame.set_index("origin")


def _text(table: pd.DataFrame) -> str:
    return table.to_string(float_format=lambda value: f"{value:.4g}", na_rep="-")


def _strongest_lines(report: Report) -> list[str]:
    best = report.meta.get("strongest_baseline")
    if not best or MODEL not in report.backtest.forecasts:
        return []
    line = next((text for text in report.verdicts if text.startswith(f"model vs {best}:")), "")
    result = line.partition(": ")[2].partition(";")[0]
    return [f"Strongest baseline (lowest mean loss): {best}; the model is {result}"]


def _quirk_lines(quirks: dict[str, int]) -> list[str]:
    if not any(quirks.values()):
        return []
    return [
        f"Data quirks: {quirks.get('stale_open', 0):,} stale opens (open = previous close; "
        f"daily variance from the Parkinson range there), {quirks.get('zero_range', 0):,} "
        "zero-range days (high = low; squared close-to-close return there)"
    ]


def render(report: Report) -> str:
    """The report as text: header, scores with DM p-values, verdicts, trading table."""
    meta = report.meta
    units = task_named(meta["task"]).units
    fitted_on = meta.get("model_fitted_on") or []
    pooled = f"; model refitted per fold on {', '.join(fitted_on)}" if len(fitted_on) > 1 else ""
    lines = [
        f"{meta['ticker']}: {meta['task']} ({units}), {meta['horizon']}-day horizon, "
        f"{meta['folds']} walk-forward folds, {meta['windows']} test origins "
        f"{meta['first_origin']} .. {meta['last_origin']}{pooled}",
        "",
        f"Scores (dm_p_*: p-value of the model against the row's baseline, per step and on "
        f"the mean loss, by {meta.get('dm_test_name', TEST_NAMES['hln'])}"
        + ("; mcs_p: Model Confidence Set p-value" if report.confidence else "")
        + "):",
        _text(report.scores),
        "",
        *report.verdicts,
        *_strongest_lines(report),
        *(report.confidence.lines() if report.confidence else []),
        *_quirk_lines(meta.get("data_quirks") or {}),
        *(f"Note: {note}" for note in task_named(meta["task"]).notes),
        *probabilistic_lines(report.probabilistic, units),
        *stretch_lines(report.backtest),
    ]
    if report.trading is not None:
        strategy = meta["strategy"]
        rule = "long/flat" if strategy["long_only"] else "long/short"
        lines += [
            "",
            f"Trading ({rule} on the sign of the one-day forecast, threshold "
            f"{strategy['threshold']}, costs {strategy['cost_bps']} bps per unit traded):",
            _text(report.trading),
        ]
    return "\n".join(lines)
