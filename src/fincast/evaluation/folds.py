"""Walk-forward folds: consecutive test blocks, each with its own purged, embargoed training slice.

The windows may be one ticker's or several tickers' pooled (a panel): folds are cut
on dates, so every ticker is tested on the same days. With ``N`` target days, fold
``k`` of ``F`` tests the windows whose first target day is among days
``N - (F - k) * step`` up to the next fold's start. Its training windows are the
windows whose every target day is before the first test day, minus ``embargo`` more
per ticker (so no training target is within ``embargo`` trading days of a test
target), and, for a rolling window, only those of the latest ``train_windows`` days.
Folds between refits reuse the training slice of the last refit fold, so the model
and every baseline always see the same data. A hold-out is a plan of one fold
(:func:`holdout_fold`): the same cut.

In a panel, tickers with too little history for the plan are left out of every fold
and named in :attr:`Fold.left_out` (:mod:`fincast.evaluation.short_history`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from fincast.data.windows import Windows, split_at
from fincast.evaluation import short_history
from fincast.specs import WINDOW_KINDS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldPlan:
    """How to cut a series into walk-forward folds.

    Attributes:
        folds: number of consecutive test blocks.
        step: test origins (trading days) per fold.
        window: ``expanding`` (train from the start) or ``rolling`` (the latest
            ``train_windows`` windows only).
        train_windows: rolling window length, in windows (trading days).
        min_train_windows: fewest training windows a fold may have.
        refit_every: refit every this many folds (1: every fold; 0: only the first).
        embargo: windows dropped between training and test beyond purging overlapping
            targets; ``None`` means the horizon; never less than the horizon.
    """

    folds: int = 10
    step: int = 250
    window: str = "expanding"
    train_windows: int | None = None
    min_train_windows: int = 250
    refit_every: int = 1
    embargo: int | None = None

    def check(self, horizon: int) -> int:
        """Validate the plan for ``horizon`` and return the embargo to use.

        Raises:
            ValueError: a value out of range, naming it.
        """
        embargo = horizon if self.embargo is None else int(self.embargo)
        problems = {
            "folds": self.folds < 1,
            "step": self.step < 1,
            "window": self.window not in WINDOW_KINDS,
            "refit_every": self.refit_every < 0,
            "embargo": embargo < horizon,
            "train_windows": self.window == "rolling" and not self.train_windows,
        }
        bad = [name for name, wrong in problems.items() if wrong]
        if bad:
            name = bad[0]
            value = embargo if name == "embargo" else getattr(self, name)
            rules = {
                "embargo": f"must be at least the horizon ({horizon})",
                "window": f"must be one of {', '.join(WINDOW_KINDS)}",
                "train_windows": "must be a positive number of windows for a rolling window",
                "refit_every": "must be >= 0",
            }
            rule = rules.get(name, "must be >= 1")
            raise ValueError(f"evaluation.{name} {rule}. Received: {name}={value!r}")
        return embargo


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold of one series, or of several tickers pooled.

    Attributes:
        index: position of the fold, from 0.
        train: training windows (targets end before the test block, embargo dropped).
        test: test windows; their input days end at ``test.as_of`` (the origins).
        dailies: each ticker's daily series (``price``, ``log_return``,
            ``gk_variance``) up to the last test origin and no later: nothing a
            forecast may not see. A single DataFrame is taken as the one ticker's.
        horizon: forecast steps.
        refit: False when this fold reuses the previous fold's fitted forecasters.
        left_out: tickers of the panel left out of every fold, each with the reason
            (too little history for the plan); the same in every fold of a plan.
    """

    index: int
    train: Windows
    test: Windows
    dailies: Mapping[str, pd.DataFrame]
    horizon: int
    refit: bool = True
    left_out: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.dailies, pd.DataFrame):
            names = pd.unique(np.concatenate([self.train.tickers, self.test.tickers]))
            ticker = str(names[0]) if len(names) else ""
            object.__setattr__(self, "dailies", {ticker: self.dailies})

    @property
    def tickers(self) -> list[str]:
        """The tickers of this fold, in the panel's order."""
        return list(self.dailies)

    @property
    def daily(self) -> pd.DataFrame:
        """The daily series of a one-ticker fold (see :meth:`of` for a panel's)."""
        if len(self.dailies) != 1:
            raise ValueError(
                f"This fold pools {len(self.dailies)} tickers; take one with fold.of(ticker). "
                f"Received: tickers={self.tickers}"
            )
        return next(iter(self.dailies.values()))

    @property
    def train_end(self) -> pd.Timestamp:
        """The last day any fitting step on this fold may use."""
        return pd.Timestamp(self.train.last_target.max())

    @property
    def origins(self) -> pd.DatetimeIndex:
        """The last input day of each test window."""
        return self.test.as_of

    def history(self) -> pd.DataFrame:
        """The daily series of the training period only (one-ticker folds)."""
        return self.daily.loc[: self.train_end]

    def of(self, ticker: str) -> Fold:
        """The part of this fold that is ``ticker``'s: its windows and its daily series."""
        if len(self.dailies) == 1 and ticker in self.dailies:
            return self
        test = self.test.select(self.test.tickers == ticker)
        daily = self.dailies[ticker]
        seen = daily.loc[: test.as_of.max()] if len(test) else daily
        train = self.train.select(self.train.tickers == ticker)
        return Fold(
            self.index, train, test, {ticker: seen}, self.horizon, self.refit, self.left_out
        )


def make_folds(
    windows: Windows,
    daily: Mapping[str, pd.DataFrame] | pd.DataFrame,
    *,
    horizon: int,
    plan: FoldPlan,
) -> list[Fold]:
    """Cut windows (one ticker's, or a pooled panel's) into walk-forward folds.

    Args:
        windows: the windows, in time order per ticker.
        daily: each ticker's daily series (a DataFrame for a single series).
        horizon: forecast steps.
        plan: the fold plan (see the module docstring).

    Returns:
        The folds; in a panel, tickers with too little history for the plan are left
        out of all of them and named in each fold's ``left_out``.

    Raises:
        ValueError: a bad plan, or too little data for it (the message says how much):
            one ticker too short, or every ticker of a panel.
    """
    embargo = plan.check(horizon)
    dailies = _dailies(windows, daily)
    left_out: dict[str, str] = {}
    while True:
        folds, short = _cut(windows, dailies, horizon, plan, embargo)
        if not short:
            break
        windows, dailies, left_out = short_history.leave_out(windows, dailies, short, left_out)
    if left_out:
        warning = short_history.left_out_warning(
            left_out, len(folds[0].tickers), plan.folds, plan.step, plan.min_train_windows
        )
        logger.warning(warning)
        folds = [replace(fold, left_out=dict(left_out)) for fold in folds]
    return folds


def _cut(
    windows: Windows,
    dailies: dict[str, pd.DataFrame],
    horizon: int,
    plan: FoldPlan,
    embargo: int,
) -> tuple[list[Fold], dict[str, short_history.ShortTicker]]:
    """The folds of ``windows`` and the tickers too short for them (the first fold that
    finds each); the folds are only meaningful when no ticker is short."""
    days = pd.DatetimeIndex(np.unique(windows.first_target))
    first_test = len(days) - plan.folds * plan.step
    folds: list[Fold] = []
    short: dict[str, short_history.ShortTicker] = {}
    train = windows
    for index in range(plan.folds):
        start = first_test + index * plan.step
        test = windows.select(_between(windows, days, start, start + plan.step))
        refit = index == 0 or (plan.refit_every > 0 and index % plan.refit_every == 0)
        if refit:
            train = _training_windows(windows, days, start, embargo, plan)
            short_history.check_training_size(
                len(train), index, plan.min_train_windows, len(days), plan.folds, plan.step
            )
        found = short_history.short_of_training(train, test, index, plan.min_train_windows, dailies)
        for ticker, why in found.items():
            short.setdefault(ticker, why)
        seen = {
            ticker: _seen(frame, ticker, train, test.as_of.max(), plan)
            for ticker, frame in dailies.items()
        }
        folds.append(Fold(index, train, test, seen, horizon, refit))
    tests = [fold.test for fold in folds]
    short.update(short_history.untested(windows, tests, short, days[max(first_test, 0) :]))
    return folds, short


def holdout_plan(test_days: int, embargo: int | None = None) -> FoldPlan:
    """The hold-out as a walk-forward plan: one fold testing the last ``test_days`` days."""
    return FoldPlan(folds=1, step=test_days, min_train_windows=1, embargo=embargo)


def holdout_fold(
    windows: Windows,
    daily: Mapping[str, pd.DataFrame] | pd.DataFrame,
    *,
    horizon: int,
    test_days: int,
    embargo: int | None = None,
) -> Fold:
    """The one fold of a hold-out: train before, test on the last ``test_days`` target days.

    Raises:
        ValueError: ``test_days`` out of range for this data (the message gives the range).
    """
    days = len(np.unique(windows.first_target))
    if test_days < 1 or test_days >= days // 2:
        raise ValueError(
            f"test_days must be between 1 and {days // 2 - 1} for this data. "
            f"Received: test_days={test_days}"
        )
    plan = holdout_plan(test_days, embargo)
    return make_folds(windows, daily, horizon=horizon, plan=plan)[0]


def _dailies(
    windows: Windows, daily: Mapping[str, pd.DataFrame] | pd.DataFrame
) -> dict[str, pd.DataFrame]:
    if isinstance(daily, pd.DataFrame):
        names = pd.unique(windows.tickers)
        return {str(names[0]) if len(names) else "": daily}
    return dict(daily)


def _seen(
    daily: pd.DataFrame, ticker: str, train: Windows, last_origin: pd.Timestamp, plan: FoldPlan
) -> pd.DataFrame:
    """The days of ``daily`` a fold may use: up to its last origin and, for a rolling
    window, from the first input day of the ticker's first training window on, so every
    baseline (history, filters, fits) sees the same days as the model."""
    seen = daily.loc[:last_origin]
    mine = train.as_of[train.tickers == ticker]
    if plan.window != "rolling" or not len(mine):
        return seen
    lookback = train.inputs.shape[1]
    start = int(seen.index.searchsorted(mine.min())) - (lookback - 1)
    return seen.iloc[max(start, 0) :]


def _between(windows: Windows, days: pd.DatetimeIndex, start: int, stop: int) -> np.ndarray:
    """Windows whose first target day is among ``days[start:stop]``."""
    first = windows.first_target
    mask = np.asarray(first >= days[max(start, 0)])
    if stop < len(days):
        mask &= np.asarray(first < days[stop])
    return mask


def _training_windows(
    windows: Windows, days: pd.DatetimeIndex, start: int, embargo: int, plan: FoldPlan
) -> Windows:
    if start <= 0:
        return windows.part(0, 0)
    train, _ = split_at(windows, days[start], embargo=embargo)
    if plan.window == "rolling" and plan.train_windows and len(train):
        kept_days = np.unique(train.first_target)[-int(plan.train_windows) :]
        train = train.select(np.isin(train.first_target, kept_days))
    return train
