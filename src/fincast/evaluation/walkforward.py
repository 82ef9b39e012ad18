"""Walk-forward backtest of the job's model and the task's baselines on the same folds.

The backtest tests what ``fincast-train`` deploys. A pooled job (``training.pooling:
pooled``, the default) deploys one model fitted on every ticker, so each fold refits
one model on every ticker's training windows and scores it on every ticker's test
windows; a per-ticker job deploys one model per ticker and is backtested ticker by
ticker. Either way every refit is :func:`fincast.fitting.forecaster.fit_forecaster`,
the fit of the main job, and the baselines are fitted per ticker on the same folds.

:func:`fincast.evaluation.executors.run_groups` gives every forecaster's forecasts
fold by fold, in this process, joblib workers or on a Ray cluster
(``evaluation.executor``); this module cuts the folds and gathers the
forecasts into one :class:`Backtest` per ticker, which
:mod:`fincast.evaluation.report` scores. Plain values only (no Hydra).

Every ticker of a panel is tested on the same folds. A ticker with too little history
for them (too few rows for one window, too few training windows before a fold tests
it, or never tested) is left out of the walk-forward and named with its reason in
:attr:`WalkForward.left_out`; one ticker alone, or a panel of only such tickers, is
refused instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from fincast.data.loading import load_checked_bars
from fincast.data.windows import concat_windows
from fincast.evaluation.backtest_record import Backtest
from fincast.evaluation.executors import run_groups
from fincast.evaluation.folds import Fold, FoldPlan, make_folds
from fincast.evaluation.forecasters import MODEL, Candidate, model_candidate
from fincast.evaluation.metrics import naive_scale
from fincast.evaluation.runner import FoldResult, ModelGroup, Progress
from fincast.evaluation.series import prepare_universe
from fincast.evaluation.tasks import Task, task_named
from fincast.specs import EvaluationSpec, JobSpec

QUIRKS = ("stale_open", "zero_range")


@dataclass
class WalkForward:
    """One walk-forward: a :class:`Backtest` per ticker tested, and the tickers left out.

    Attributes:
        backtests: ticker -> its backtest, in the order of the bars.
        left_out: ticker -> why it was left out (too little history for the plan).
    """

    backtests: dict[str, Backtest]
    left_out: dict[str, str] = field(default_factory=dict)


def fold_plan(evaluation: EvaluationSpec) -> FoldPlan:
    """The walk-forward fold plan of the ``evaluation`` settings."""
    return FoldPlan(
        folds=evaluation.folds,
        step=evaluation.step,
        window=evaluation.window,
        train_windows=evaluation.train_windows,
        min_train_windows=evaluation.min_train_windows,
        refit_every=evaluation.refit_every,
        embargo=evaluation.embargo,
    )


def candidates_for(job: JobSpec, *, with_model: bool = True) -> list[Candidate]:
    """The job's model (unless ``with_model`` is false), then the task's baselines."""
    found = task_named(job.task.name).candidates(job.evaluation.baselines)
    return [model_candidate(job), *found] if with_model else found


def model_groups(job: JobSpec, tickers: list[str]) -> list[list[str]]:
    """The tickers each deployed model is fitted on: all together, or one each."""
    return [tickers] if job.training.pooling == "pooled" else [[ticker] for ticker in tickers]


def walk_forward_panel(
    bars: dict[str, pd.DataFrame],
    job: JobSpec,
    *,
    with_model: bool = True,
    progress: Progress | None = None,
) -> WalkForward:
    """Walk-forward backtest of every ticker of ``bars``, as the job deploys its model.

    Every ticker is tested on the folds of the whole panel; a per-ticker job fits one
    model per ticker on them, a pooled job one model on every ticker.

    Args:
        bars: validated bars per ticker.
        job: the job spec (model, task, features, fit and ``evaluation`` plan).
        with_model: False scores the baselines only.
        progress: called with the group's label, each fold's result and the fold count.

    Returns:
        A :class:`Backtest` per ticker tested, in the order of ``bars``, and the
        tickers left out with the reason.
    """
    task = task_named(job.task.name)
    windows, dailies, left_out = prepare_universe(bars, job)
    panel_folds = make_folds(
        concat_windows(list(windows.values())),
        dailies,
        horizon=job.task.horizon,
        plan=fold_plan(job.evaluation),
    )
    left_out.update(panel_folds[0].left_out)
    tested = [ticker for ticker in bars if ticker not in left_out]
    groups = [
        ModelGroup(
            label=tickers[0] if len(tickers) == 1 else f"pooled ({len(tickers)} tickers)",
            folds=panel_folds if len(tickers) == len(tested) else _own_folds(panel_folds, tickers),
            candidates=candidates_for(job, with_model=with_model),
        )
        for tickers in model_groups(job, tested)
    ]
    backtests: dict[str, Backtest] = {}
    for group, results in zip(
        groups, run_groups(groups, task.mean_loss, job.evaluation, progress), strict=True
    ):
        backtests.update(gather(task, group.folds, results, group.candidates))
    return WalkForward({ticker: backtests[ticker] for ticker in tested}, left_out)


def _own_folds(folds: list[Fold], tickers: list[str]) -> list[Fold]:
    """One ticker's part of the panel's folds (a per-ticker model): the same days.

    A fold that does not test the ticker (its series ended earlier) is dropped; a later
    fold that would have reused its fit refits on the same training windows instead.
    """
    (ticker,) = tickers
    own: list[Fold] = []
    pending = False
    for fold in folds:
        part = fold.of(ticker)
        if not len(part.test):
            pending = pending or part.refit
            continue
        own.append(replace(part, refit=True) if pending else part)
        pending = False
    return own


def backtest_panel(
    bars: dict[str, pd.DataFrame],
    job: JobSpec,
    *,
    with_model: bool = True,
    progress: Progress | None = None,
) -> dict[str, Backtest]:
    """The backtests of :func:`walk_forward_panel`: one per ticker tested."""
    return walk_forward_panel(bars, job, with_model=with_model, progress=progress).backtests


def gather(
    task: Task, folds: list[Fold], results: list[FoldResult], candidates: list[Candidate]
) -> dict[str, Backtest]:
    """One :class:`Backtest` per ticker from the folds and their results (sorted by fold)."""
    tests = [fold.test for fold in folds]
    tickers = np.concatenate([test.tickers for test in tests])
    everything = {
        "origins": np.concatenate([test.as_of for test in tests]),
        "target_start": np.concatenate([test.first_target for test in tests]),
        "fold": np.concatenate([np.full(len(fold.test), fold.index) for fold in folds]),
        "actual": np.concatenate([test.targets for test in tests]).astype("float64"),
        "last_price": np.concatenate([_by_ticker(fold, _last_prices) for fold in folds]),
        "price_scale": np.concatenate([_by_ticker(fold, _price_scale) for fold in folds]),
    }
    forecasts = {
        c.name: np.concatenate([r.forecasts[c.name] for r in results]).astype("float64")
        for c in candidates
    }
    table = fold_table(results)
    with_model = any(candidate.name == MODEL for candidate in candidates)
    fitted_on = tuple(folds[0].tickers) if with_model else ()
    backtests = {}
    for ticker in folds[0].tickers:
        rows = tickers == ticker
        backtests[ticker] = Backtest(
            task=task.name,
            ticker=ticker,
            horizon=folds[0].horizon,
            origins=pd.DatetimeIndex(everything["origins"][rows]),
            target_start=pd.DatetimeIndex(everything["target_start"][rows]),
            fold=everything["fold"][rows],
            actual=everything["actual"][rows],
            forecasts={name: values[rows] for name, values in forecasts.items()},
            levels={candidate.name: candidate.levels for candidate in candidates},
            last_price=everything["last_price"][rows],
            price_scale=everything["price_scale"][rows],
            folds=table,
            fitted_on=fitted_on,
            quirks=_quirks(folds[-1].dailies[ticker]),
        )
        if len(folds[0].tickers) > 1:
            backtests[ticker].folds = own_fold_table(table, backtests[ticker], task)
    return backtests


def _quirks(daily: pd.DataFrame) -> dict[str, int]:
    """How many days of ``daily`` had a stale open or no range (0 when not flagged)."""
    return {name: int(daily[name].sum()) if name in daily else 0 for name in QUIRKS}


def _by_ticker(fold: Fold, per_ticker: Callable[[Fold], np.ndarray]) -> np.ndarray:
    """A value per test window of ``fold``, computed on each ticker's part of it."""
    values = np.empty(len(fold.test), dtype="float64")
    for ticker in fold.tickers:
        rows = fold.test.tickers == ticker
        if np.any(rows):
            values[rows] = per_ticker(fold.of(ticker))
    return values


def _last_prices(fold: Fold) -> np.ndarray:
    return fold.daily["price"].reindex(fold.origins).to_numpy("float64")


def _price_scale(fold: Fold) -> np.ndarray:
    return np.full(len(fold.test), naive_scale(fold.history()["price"].to_numpy()))


def own_fold_table(pooled: pd.DataFrame, backtest: Backtest, task: Task) -> pd.DataFrame:
    """The fold table of one ticker of a panel: its own test windows and losses per fold.

    ``train_windows`` stays the count the model was fitted on (every ticker's, when pooled).
    """
    table = pooled.copy()
    for index in table.index:
        rows = backtest.fold == index
        table.loc[index, "test_windows"] = int(rows.sum())
        for name in backtest.forecasts:
            loss = task.mean_loss(backtest.actual[rows], backtest.point(name)[rows])
            table.loc[index, f"loss_{name}"] = loss
    return table


def fold_table(results: list[FoldResult]) -> pd.DataFrame:
    """One row per fold: dates, sizes, whether it refitted, seconds, and each loss."""
    rows = []
    for result in results:
        row = {"index": result.index, "refit": result.refit, **result.dates}
        row.update(train_windows=result.train_windows, test_windows=result.test_windows)
        row["seconds"] = result.seconds
        row.update({f"loss_{name}": value for name, value in result.losses.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("index")


def run_walkforward(job: JobSpec, progress: Progress | None = None) -> WalkForward:
    """Load the job's bars under its data checks and backtest them (:func:`walk_forward_panel`)."""
    bars, _ = load_checked_bars(job.data, job.features.price)
    return walk_forward_panel(bars, job, progress=progress)
