"""The forecasting tasks, each defined in one place: the one registry of tasks.

A :class:`Task` says what its windows' targets are, which baselines it is scored
against (walk-forward and hold-out), its per-value loss, units and naive baseline,
its score row, whether directional metrics and a trading view apply, and how its
forecasts are shown. Training, evaluation, the CLI and the dashboard read the task
from here and never switch on its name. Adding a task is one :class:`Task` below
(with the functions it names) and a ``conf/task/<name>.yaml``.

>>> sorted(TASKS)
['returns', 'volatility']
>>> task_named("volatility").loss_name
'QLIKE'
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fincast.data.windows import Windows
from fincast.evaluation import baselines, volatility
from fincast.evaluation.forecasters import Candidate
from fincast.evaluation.holdout import return_holdout_baselines, volatility_holdout_baselines
from fincast.evaluation.losses import (
    LossValues,
    mean_qlike,
    mean_squared_error,
    squared_errors,
    volatility_qlike,
)
from fincast.evaluation.targets import (
    VOLATILITY_TARGET,
    recent_volatility,
    return_windows,
    volatility_windows,
)
from fincast.evaluation.task_metrics import return_metrics, volatility_metrics

if TYPE_CHECKING:
    from fincast.evaluation.backtest_record import Backtest

WindowMaker = Callable[..., Windows]
HoldoutBaselines = Callable[[Windows, Windows, dict[str, pd.DataFrame]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Task:
    """Everything fincast needs to know about one forecasting task.

    Attributes:
        name: the task's name (``task.name`` in the config).
        target: the default target column (``task.target``).
        units: what a forecast value is, in words.
        naive_name: the naive baseline, in words ("beats <naive_name>").
        loss_name: the task loss, in words.
        loss_values: the per-value loss (Diebold-Mariano, loss tables).
        mean_loss: the mean loss (progress lines; a module-level function, so picklable).
        make_windows: ``(features, daily, *, target, lookback, horizon, ticker)`` -> windows.
        baselines: the walk-forward baselines, by name, in their report order.
        reference: the baseline every loss is also shown as a ratio to (``loss_vs_<it>``):
            the random walk for returns, HAR for volatility, as papers report them.
        holdout_baselines: ``(train, test, dailies)`` -> the hold-out baselines' forecasts.
        metrics: ``(backtest, forecaster)`` -> the score row of the walk-forward report.
        directional: hit rates, the trading view and a price path apply (return forecasts).
        horizon_value: one value per origin from ``(n, horizon)`` values, for figures.
        horizon_label: the figure's label of that value (``{horizon}`` is filled in).
        calibration: the calibration figure: ``coverage`` (interval coverage by
            level) or ``reliability`` (realised by forecast decile).
        history: ``(bars, days)`` -> the target's recent history, drawn before a
            forecast that is not a price path (``None``: the price is drawn instead).
        notes: what a report of this task must say about its baselines.
    """

    name: str
    target: str
    units: str
    naive_name: str
    loss_name: str
    loss_values: LossValues
    mean_loss: Callable[[np.ndarray, np.ndarray], float]
    make_windows: WindowMaker
    baselines: Mapping[str, Candidate]
    reference: str
    holdout_baselines: HoldoutBaselines
    metrics: Callable[[Backtest, str], dict[str, float]]
    directional: bool
    horizon_value: Callable[[np.ndarray], np.ndarray]
    horizon_label: str
    calibration: str
    history: Callable[[pd.DataFrame, int], pd.Series] | None = None
    notes: tuple[str, ...] = ()

    def candidates(self, names: Sequence[str] | None = None) -> list[Candidate]:
        """The task's baselines (all of them, or those named), in a stable order.

        Raises:
            ValueError: an unknown baseline name, listing the known ones.
        """
        chosen = list(self.baselines) if names is None else list(names)
        unknown = [name for name in chosen if name not in self.baselines]
        if unknown:
            raise ValueError(
                f"Unknown {self.name} baseline(s) {', '.join(unknown)}; "
                f"available: {', '.join(self.baselines)}."
            )
        return [self.baselines[name] for name in chosen]


def _sum_of_steps(values: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(values, axis=1))


def _last_step(values: np.ndarray) -> np.ndarray:
    return np.asarray(values[:, -1])


RETURNS = Task(
    name="returns",
    target="log_return",
    units="log returns",
    naive_name="the random walk",
    loss_name="squared error",
    loss_values=squared_errors,
    mean_loss=mean_squared_error,
    make_windows=return_windows,
    baselines={
        "naive": Candidate("naive", baselines.naive),
        "historical_mean": Candidate("historical_mean", baselines.historical_mean),
        "drift": Candidate("drift", baselines.drift),
        "ar5": Candidate("ar5", functools.partial(baselines.autoregressive, order=5)),
        "historical_quantiles": Candidate(
            "historical_quantiles", baselines.historical_quantiles, baselines.QUANTILE_LEVELS
        ),
    },
    reference="naive",
    holdout_baselines=return_holdout_baselines,
    metrics=return_metrics,
    directional=True,
    horizon_value=_sum_of_steps,
    horizon_label="{horizon}-day log return",
    calibration="coverage",
)

VOLATILITY = Task(
    name="volatility",
    target=VOLATILITY_TARGET,
    units="annualised realised volatility",
    naive_name="volatility persistence",
    loss_name="QLIKE",
    loss_values=volatility_qlike,
    mean_loss=mean_qlike,
    make_windows=volatility_windows,
    baselines={
        "naive": Candidate("naive", volatility.persistence),
        "ewma": Candidate("ewma", volatility.ewma),
        "garch": Candidate("garch", volatility.garch),
        "har": Candidate("har", volatility.har),
        "log_har": Candidate("log_har", volatility.log_har),
        "har_rolling": Candidate("har_rolling", volatility.har_rolling),
    },
    reference="har",
    holdout_baselines=volatility_holdout_baselines,
    metrics=volatility_metrics,
    directional=False,
    horizon_value=_last_step,
    horizon_label="realised volatility over {horizon} days (annualised)",
    calibration="reliability",
    history=recent_volatility,
    notes=(
        "ewma and garch model close-to-close returns: their variances are level-calibrated "
        "to the target's estimator on each fold's training days (mean GK / mean r^2)",
    ),
)

TASKS: dict[str, Task] = {task.name: task for task in (RETURNS, VOLATILITY)}


def task_named(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ValueError: an unknown task, listing the known ones.
    """
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    return TASKS[name]
