"""Walk-forward folds: consecutive test blocks, purged and embargoed training, refit groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fincast.data.windows import make_windows
from fincast.evaluation.folds import FoldPlan, make_folds
from fincast.evaluation.runner import refit_groups

HORIZON = 3


def series(rows: int = 600):
    dates = pd.bdate_range("2020-01-01", periods=rows, name="date")
    frame = pd.DataFrame({"log_return": np.arange(rows, dtype="float32")}, index=dates)
    daily = pd.DataFrame({"price": 1.0, "log_return": 0.0, "gk_variance": 1e-4}, index=dates)
    return make_windows(frame, "log_return", lookback=10, horizon=HORIZON), daily


def test_test_blocks_are_consecutive_and_end_with_the_data() -> None:
    windows, daily = series()
    folds = make_folds(windows, daily, horizon=HORIZON, plan=FoldPlan(folds=4, step=50))
    origins = np.concatenate([fold.origins for fold in folds])
    assert len(origins) == 200 and (np.diff(origins.astype("int64")) > 0).all()
    assert folds[-1].test.last_target.max() == windows.last_target.max()
    assert [len(fold.test) for fold in folds] == [50] * 4


@pytest.mark.parametrize("embargo", [None, 3, 10])
def test_training_targets_end_an_embargo_before_the_test_targets(embargo) -> None:
    windows, daily = series()
    plan = FoldPlan(folds=3, step=40, embargo=embargo)
    for fold in make_folds(windows, daily, horizon=HORIZON, plan=plan):
        gap_days = (
            daily.index.get_indexer(fold.test.first_target[:1])[0]
            - daily.index.get_indexer(fold.train.last_target[-1:])[0]
        )
        assert gap_days > (embargo or HORIZON)
        assert fold.train_end < fold.test.first_target.min()


def test_the_daily_series_stops_at_the_last_origin() -> None:
    windows, daily = series()
    for fold in make_folds(windows, daily, horizon=HORIZON, plan=FoldPlan(folds=2, step=40)):
        assert fold.daily.index.max() == fold.origins.max()
        assert fold.history().index.max() == fold.train_end


def test_expanding_and_rolling_windows() -> None:
    windows, daily = series()
    expanding = make_folds(windows, daily, horizon=HORIZON, plan=FoldPlan(folds=3, step=40))
    assert len({fold.train.as_of.min() for fold in expanding}) == 1
    assert len(expanding[2].train) == len(expanding[0].train) + 80
    plan = FoldPlan(folds=3, step=40, window="rolling", train_windows=200, min_train_windows=100)
    rolling = make_folds(windows, daily, horizon=HORIZON, plan=plan)
    assert [len(fold.train) for fold in rolling] == [200, 200, 200]
    assert rolling[1].train.as_of.min() > rolling[0].train.as_of.min()


def test_refit_every_reuses_the_training_slice() -> None:
    windows, daily = series()
    plan = FoldPlan(folds=5, step=30, refit_every=2)
    folds = make_folds(windows, daily, horizon=HORIZON, plan=plan)
    assert [fold.refit for fold in folds] == [True, False, True, False, True]
    assert folds[1].train is folds[0].train
    assert [[fold.index for fold in group] for group in refit_groups(folds)] == [
        [0, 1],
        [2, 3],
        [4],
    ]
    once = make_folds(
        windows, daily, horizon=HORIZON, plan=FoldPlan(folds=3, step=30, refit_every=0)
    )
    assert [fold.refit for fold in once] == [True, False, False]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (FoldPlan(embargo=2), "embargo must be at least the horizon \\(3\\). Received: embargo=2"),
        (FoldPlan(window="sliding"), "Received: window='sliding'"),
        (FoldPlan(window="rolling"), "Received: train_windows=None"),
        (FoldPlan(folds=0), "Received: folds=0"),
        (FoldPlan(folds=10, step=60), "Fold 0 would train on 0 windows"),
    ],
)
def test_bad_plans_say_what_is_wrong(plan, message) -> None:
    windows, daily = series()
    with pytest.raises(ValueError, match=message):
        make_folds(windows, daily, horizon=HORIZON, plan=plan)
