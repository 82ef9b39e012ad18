"""Walk-forward folds: consecutive test blocks, each with its own purged, embargoed training slice.

Fold ``k`` of ``F`` tests the windows at positions ``N - (F - k) * step`` up to the
next fold's start. Its training windows are the windows whose every target day is
before the first test target day, minus ``embargo`` more (so no training target is
within ``embargo`` trading days of a test target), and, for a rolling window, only
the latest ``train_windows`` of them. Folds between refits reuse the training slice
of the last refit fold, so the model and every baseline always see the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fincast.data.windows import Windows, split_at

WINDOW_KINDS = ("expanding", "rolling")


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
    """One walk-forward fold of one series.

    Attributes:
        index: position of the fold, from 0.
        train: training windows (targets end before the test block, embargo dropped).
        test: test windows; their input days end at ``test.as_of`` (the origins).
        daily: daily series (``price``, ``log_return``, ``gk_variance``) up to the last
            test origin and no later: nothing a forecast may not see.
        horizon: forecast steps.
        refit: False when this fold reuses the previous fold's fitted forecasters.
    """

    index: int
    train: Windows
    test: Windows
    daily: pd.DataFrame
    horizon: int
    refit: bool = True

    @property
    def train_end(self) -> pd.Timestamp:
        """The last day any fitting step on this fold may use."""
        return pd.Timestamp(self.train.last_target.max())

    @property
    def origins(self) -> pd.DatetimeIndex:
        """The last input day of each test window."""
        return self.test.as_of

    def history(self) -> pd.DataFrame:
        """The daily series of the training period only."""
        return self.daily.loc[: self.train_end]


def make_folds(
    windows: Windows, daily: pd.DataFrame, *, horizon: int, plan: FoldPlan
) -> list[Fold]:
    """Cut one series' windows into walk-forward folds (see the module docstring).

    Raises:
        ValueError: a bad plan, or too little data for it (the message says how much).
    """
    embargo = plan.check(horizon)
    count = len(windows)
    first_test = count - plan.folds * plan.step
    folds: list[Fold] = []
    train = windows
    for index in range(plan.folds):
        start = first_test + index * plan.step
        test = windows.select(_positions(count, start, start + plan.step))
        refit = index == 0 or (plan.refit_every > 0 and index % plan.refit_every == 0)
        if refit:
            train = _training_windows(windows, start, embargo, plan)
            _check_size(train, index, plan, count)
        daily_seen = daily.loc[: test.as_of.max()]
        folds.append(Fold(index, train, test, daily_seen, horizon, refit))
    return folds


def _positions(count: int, start: int, stop: int) -> np.ndarray:
    mask = np.zeros(count, dtype=bool)
    mask[max(start, 0) : stop] = True
    return mask


def _training_windows(windows: Windows, start: int, embargo: int, plan: FoldPlan) -> Windows:
    if start <= 0:
        return windows.select(np.zeros(len(windows), dtype=bool))
    train, _ = split_at(windows, windows.first_target[start], embargo=embargo)
    if plan.window == "rolling" and plan.train_windows:
        keep = np.zeros(len(train), dtype=bool)
        keep[-int(plan.train_windows) :] = True
        train = train.select(keep)
    return train


def _check_size(train: Windows, index: int, plan: FoldPlan, count: int) -> None:
    if len(train) >= plan.min_train_windows:
        return
    raise ValueError(
        f"Fold {index} would train on {len(train)} windows, fewer than "
        f"min_train_windows={plan.min_train_windows}: {count} windows cannot hold "
        f"folds={plan.folds} x step={plan.step} test days and enough training data. "
        "Use fewer folds, a smaller step, or more data."
    )
