"""Walk-forward folds: consecutive test blocks, purged and embargoed training, refit groups."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from fincast.data.windows import concat_windows, make_windows
from fincast.evaluation.folds import FoldPlan, holdout_fold, holdout_plan, make_folds
from fincast.evaluation.runner import refit_groups

HORIZON = 3


def series(rows: int = 600, ticker: str = "", start: str = "2020-01-01"):
    dates = pd.bdate_range(start, periods=rows, name="date")
    frame = pd.DataFrame({"log_return": np.arange(rows, dtype="float32")}, index=dates)
    daily = pd.DataFrame({"price": 1.0, "log_return": 0.0, "gk_variance": 1e-4}, index=dates)
    return make_windows(frame, "log_return", lookback=10, horizon=HORIZON, ticker=ticker), daily


def panel():
    """Two tickers pooled: B starts later and ends a few days after A."""
    first, first_daily = series(600, "A")
    second, second_daily = series(500, "B", start="2020-06-01")
    return concat_windows([first, second]), {"A": first_daily, "B": second_daily}


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


def test_a_panels_folds_test_every_ticker_on_the_same_days() -> None:
    windows, dailies = panel()
    folds = make_folds(windows, dailies, horizon=HORIZON, plan=FoldPlan(folds=3, step=40))
    days = np.unique(windows.first_target)
    tested = np.concatenate([fold.test.first_target for fold in folds])
    assert set(tested) == set(days[-120:])
    for fold in folds:
        assert fold.tickers == ["A", "B"]
        assert len(np.unique(fold.test.first_target)) == 40
        assert sum(len(fold.of(ticker).test) for ticker in fold.tickers) == len(fold.test)
        for ticker in fold.tickers:
            part = fold.of(ticker)
            assert part.tickers == [ticker] and set(part.test.tickers) == {ticker}
            assert set(part.train.tickers) == {ticker}
            assert part.daily.index.max() == part.origins.max()
            assert part.daily.equals(dailies[ticker].loc[: part.origins.max()])
    # A's data ends first, so its last block is shorter; B's is full
    assert [len(folds[-1].of(ticker).test) for ticker in "AB"] == [32, 40]


def test_a_panels_embargo_holds_for_every_ticker() -> None:
    windows, dailies = panel()
    plan = FoldPlan(folds=3, step=40, embargo=5)
    for fold in make_folds(windows, dailies, horizon=HORIZON, plan=plan):
        start = fold.test.first_target.min()
        for ticker, daily in dailies.items():
            train = fold.of(ticker).train
            gap = daily.index.get_loc(start) - daily.index.get_loc(train.last_target.max())
            assert gap > 5
            assert train.last_target.max() < start


def test_a_panel_fold_has_no_single_daily_series() -> None:
    windows, dailies = panel()
    fold = make_folds(windows, dailies, horizon=HORIZON, plan=FoldPlan(folds=1, step=40))[0]
    with pytest.raises(ValueError, match="take one with fold.of\\(ticker\\)"):
        _ = fold.daily
    assert fold.of("A").daily.index.max() == fold.of("A").origins.max()


def test_one_tickers_fold_takes_a_data_frame_as_its_daily_series() -> None:
    windows, daily = series(ticker="A")
    fold = make_folds(windows, daily, horizon=HORIZON, plan=FoldPlan(folds=1, step=40))[0]
    assert fold.tickers == ["A"] and fold.of("A") is fold
    assert fold.dailies["A"] is fold.daily


def test_a_holdout_is_one_fold_on_the_last_test_days() -> None:
    windows, daily = series()
    fold = holdout_fold(windows, daily, horizon=HORIZON, test_days=50)
    assert holdout_plan(50) == FoldPlan(folds=1, step=50, min_train_windows=1)
    assert fold.index == 0 and fold.refit
    assert len(fold.test) == 50 and fold.test.last_target.max() == windows.last_target.max()
    # purged and embargoed: the horizon's overlapping windows and HORIZON more are dropped
    assert len(fold.train) == len(windows) - 50 - (HORIZON - 1) - HORIZON
    same = make_folds(windows, daily, horizon=HORIZON, plan=holdout_plan(50))[0]
    np.testing.assert_array_equal(fold.train.inputs, same.train.inputs)


@pytest.mark.parametrize("test_days", [0, 294])
def test_a_holdout_says_which_test_days_fit(test_days) -> None:
    windows, daily = series()
    with pytest.raises(ValueError, match=f"between 1 and 293 .*Received: test_days={test_days}"):
        holdout_fold(windows, daily, horizon=HORIZON, test_days=test_days)


def test_a_ticker_without_training_windows_is_left_out_by_name() -> None:
    """Its baselines would have no past to fit on (and its history would reach the test)."""
    first, first_daily = series(600, "A")
    late, late_daily = series(60, "B", start=str(first_daily.index[-60].date()))
    windows = concat_windows([first, late])
    plan = FoldPlan(folds=1, step=100)
    (fold,) = make_folds(windows, {"A": first_daily, "B": late_daily}, horizon=HORIZON, plan=plan)
    assert fold.tickers == ["A"] and set(fold.test.tickers) == set(fold.train.tickers) == {"A"}
    assert list(fold.left_out) == ["B"]
    assert fold.left_out["B"].startswith("0 training windows before its first test day")


def test_a_ticker_short_of_min_train_windows_is_left_out_whatever_the_pooled_count() -> None:
    first, first_daily = series(600, "A")
    late, late_daily = series(160, "B", start=str(first_daily.index[-160].date()))
    windows = concat_windows([first, late])
    plan = FoldPlan(folds=1, step=100, min_train_windows=100)
    (fold,) = make_folds(windows, {"A": first_daily, "B": late_daily}, horizon=HORIZON, plan=plan)
    assert fold.tickers == ["A"]
    assert re.match(r"\d+ training windows .* min_train_windows=100", fold.left_out["B"])
    fine = FoldPlan(folds=1, step=100, min_train_windows=40)
    (fold,) = make_folds(windows, {"A": first_daily, "B": late_daily}, horizon=HORIZON, plan=fine)
    assert 40 <= len(fold.of("B").train) < 100 < len(fold.train) and fold.left_out == {}
