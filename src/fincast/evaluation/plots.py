"""Backtest figures as PNG files (matplotlib, headless): forecast vs actual, calibration, equity.

Each function writes one file and returns its path; :func:`save_plots` writes every
figure that applies to the report's task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fincast.evaluation.forecasters import MODEL
from fincast.evaluation.report import Report
from fincast.evaluation.task_metrics import INTERVALS
from fincast.evaluation.tasks import task_named

DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    _pyplot().close(figure)
    return path


def _shown(report: Report) -> list[str]:
    """The model and at most three baselines, to keep figures readable."""
    names = list(report.backtest.forecasts)
    return ([MODEL] if MODEL in names else []) + report.backtest.baselines[:3]


def forecast_vs_actual(report: Report, path: Path) -> Path:
    """The last step's forecast of each shown forecaster against what happened."""
    backtest, plt = report.backtest, _pyplot()
    task = task_named(backtest.task)
    figure, axis = plt.subplots(figsize=(11, 4.5))
    actual = task.horizon_value(backtest.actual)
    label = task.horizon_label.format(horizon=backtest.horizon)
    values = {name: task.horizon_value(backtest.point(name)) for name in _shown(report)}
    axis.plot(backtest.origins, actual, color="0.6", linewidth=0.7, label="actual")
    for name, value in values.items():
        axis.plot(backtest.origins, value, linewidth=1.0, label=name)
    for start in backtest.origins[np.flatnonzero(np.diff(backtest.fold)) + 1]:
        axis.axvline(start, color="0.85", linewidth=0.6)
    axis.set_title(f"{backtest.ticker}: {label}, forecast at each origin vs actual")
    axis.set_ylabel(label)
    axis.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


def interval_calibration(report: Report, path: Path) -> Path:
    """The task's calibration figure: interval coverage by level, or realised by forecast decile."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 5))
    _CALIBRATIONS[task_named(report.backtest.task).calibration](report, axis)
    return _save(figure, path)


def _coverage_bars(report: Report, axis: Any) -> None:
    columns = [f"cover_{size}" for size in INTERVALS]
    table = report.scores[columns].dropna(how="all")
    nominal = list(INTERVALS)
    axis.plot(nominal, nominal, "k--", linewidth=0.8, label="nominal")
    for name, row in table.iterrows():
        axis.plot(nominal, 100 * row.to_numpy("float64"), "o-", label=str(name))
    if table.empty:
        axis.text(0.5, 0.5, "no quantile forecasts", ha="center", transform=axis.transAxes)
    axis.set_xlabel("nominal coverage (%)")
    axis.set_ylabel("empirical coverage (%)")
    axis.set_title("Interval calibration")
    axis.legend(fontsize=8)


def _volatility_reliability(report: Report, axis: Any) -> None:
    backtest = report.backtest
    actual = backtest.actual[:, -1]
    for name in _shown(report):
        forecast = backtest.point(name)[:, -1]
        bins = pd.qcut(forecast, 10, labels=False, duplicates="drop")
        grouped = pd.DataFrame({"f": forecast, "a": actual, "bin": bins}).groupby("bin").mean()
        axis.plot(grouped["f"], grouped["a"], "o-", label=name)
    limit = float(np.quantile(actual, 0.99))
    axis.plot([0, limit], [0, limit], "k--", linewidth=0.8, label="perfect")
    axis.set_xlabel("forecast volatility (decile mean)")
    axis.set_ylabel("realised volatility (mean)")
    axis.set_title("Calibration by forecast decile")
    axis.legend(fontsize=8)


_CALIBRATIONS = {"coverage": _coverage_bars, "reliability": _volatility_reliability}


def equity_curves(report: Report, path: Path) -> Path:
    """Equity of each forecaster's trading rule against buy-and-hold, after costs."""
    assert report.equity is not None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(11, 4.5))
    shown = [*_shown(report), "buy_and_hold"]
    for name in [column for column in report.equity.columns if column in shown]:
        style = {"color": "k", "linewidth": 1.4} if name == "buy_and_hold" else {"linewidth": 1.0}
        axis.plot(report.equity.index, report.equity[name], label=name, **style)
    axis.set_yscale("log")
    axis.set_ylabel("equity (start = 1, log scale)")
    axis.set_title(f"{report.backtest.ticker}: trading rules after costs vs buy-and-hold")
    axis.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


def save_plots(report: Report, directory: str | Path) -> list[Path]:
    """Write every figure that applies to the report's task into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        forecast_vs_actual(report, folder / "forecast_vs_actual.png"),
        interval_calibration(report, folder / "calibration.png"),
    ]
    if report.equity is not None:
        written.append(equity_curves(report, folder / "equity.png"))
    return written
