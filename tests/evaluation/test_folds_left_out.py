"""Tickers with too little history for a walk-forward plan: left out of a panel, by name."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from fincast.data.windows import concat_windows, make_windows
from fincast.evaluation.folds import FoldPlan, holdout_fold, make_folds

HORIZON = 3


def series(rows: int, ticker: str, start: str = "2020-01-01"):
    dates = pd.bdate_range(start, periods=rows, name="date")
    values = np.random.default_rng(len(ticker) + rows).normal(size=rows).astype("float32")
    frame = pd.DataFrame({"log_return": values}, index=dates)
    daily = pd.DataFrame({"price": 1.0, "log_return": 0.0, "gk_variance": 1e-4}, index=dates)
    return make_windows(frame, "log_return", lookback=10, horizon=HORIZON, ticker=ticker), daily


def panel(*parts):
    return concat_windows([part[0] for part in parts]), {
        str(part[0].tickers[0]): part[1] for part in parts
    }


def late(ticker: str, rows: int, full_rows: int = 600):
    """A ticker whose series covers only the last ``rows`` days of a full one."""
    dates = pd.bdate_range("2020-01-01", periods=full_rows)
    return series(rows, ticker, start=str(dates[-rows].date()))


PLAN = FoldPlan(folds=2, step=50, min_train_windows=100)


def test_the_remaining_tickers_keep_the_folds_they_would_have_alone(caplog) -> None:
    windows, dailies = panel(series(600, "A"), series(600, "C"), late("B", 180))
    with caplog.at_level(logging.WARNING, logger="fincast.evaluation.folds"):
        folds = make_folds(windows, dailies, horizon=HORIZON, plan=PLAN)
    kept, kept_dailies = panel(series(600, "A"), series(600, "C"))
    alone = make_folds(kept, kept_dailies, horizon=HORIZON, plan=PLAN)
    for fold, reference in zip(folds, alone, strict=True):
        assert fold.tickers == ["A", "C"] and "B" not in set(fold.train.tickers)
        np.testing.assert_array_equal(fold.test.as_of, reference.test.as_of)
        np.testing.assert_array_equal(fold.train.as_of, reference.train.as_of)
        np.testing.assert_array_equal(
            np.asarray(fold.train.inputs), np.asarray(reference.train.inputs)
        )
        assert list(fold.left_out) == ["B"] and fold.of("A").left_out == fold.left_out
    assert reference.left_out == {}
    reason = folds[0].left_out["B"]
    assert "fewer than min_train_windows=100" in reason and "fold 0" in reason
    assert f"its series starts {dailies['B'].index.min().date()}" in reason
    (record,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "Left out 1 of 3 tickers" in record.getMessage() and "B: " in record.getMessage()


def test_a_ticker_that_no_fold_tests_is_left_out_with_its_reason() -> None:
    early = series(300, "E")  # ends long before the test blocks
    windows, dailies = panel(series(600, "A"), series(600, "C"), early)
    folds = make_folds(windows, dailies, horizon=HORIZON, plan=PLAN)
    assert folds[0].tickers == ["A", "C"]
    assert folds[-1].left_out["E"].startswith("no test windows: its last target day")


def test_one_ticker_too_short_is_refused_as_before() -> None:
    windows, daily = late("B", 180)
    with pytest.raises(ValueError, match=r"Fold 0 would train on \d+ windows"):
        make_folds(windows, daily, horizon=HORIZON, plan=PLAN)


def test_a_panel_whose_every_ticker_is_short_is_refused() -> None:
    # pooled, the two have enough windows; alone, neither has min_train_windows
    windows, dailies = panel(late("B", 200), late("D", 200))
    plan = FoldPlan(folds=1, step=50, min_train_windows=150)
    with pytest.raises(ValueError, match=r"Every ticker of the panel has too little history.*'B'"):
        make_folds(windows, dailies, horizon=HORIZON, plan=plan)


def test_the_holdout_fold_names_the_tickers_it_leaves_out() -> None:
    windows, dailies = panel(series(600, "A"), late("B", 60))
    fold = holdout_fold(windows, dailies, horizon=HORIZON, test_days=100)
    assert fold.tickers == ["A"] and set(fold.test.tickers) == {"A"}
    assert fold.left_out["B"].startswith("0 training windows before its first test day")


@pytest.fixture(scope="module")
def sample_bars() -> dict[str, pd.DataFrame]:
    from fincast.data.loading import load_bars

    return load_bars("sample", ["^GSPC", "^IXIC"])


def baselines_job(**changes):
    from jobs import make_job

    settings = {
        "tickers": ["^GSPC"],
        "lookback": 10,
        "horizon": 3,
        "folds": 2,
        "step": 60,
        "min_train_windows": 100,
        "baselines": ["naive", "historical_mean"],
        "verbose": 0,
    }
    return make_job(**{**settings, **changes})


@pytest.mark.parametrize("pooling", ["pooled", "per_ticker"])
def test_a_walk_forward_leaves_out_short_tickers_and_tests_the_rest_on_the_same_folds(
    sample_bars, pooling
) -> None:
    from fincast.evaluation.walkforward import backtest_panel, walk_forward_panel

    full = {"^GSPC": sample_bars["^GSPC"].iloc[-700:], "^IXIC": sample_bars["^IXIC"].iloc[-700:]}
    bars = {
        **full,
        "LATE": sample_bars["^IXIC"].iloc[-150:],  # too few training windows before fold 0
        "TINY": sample_bars["^GSPC"].iloc[-8:],  # fewer rows than lookback + horizon
    }
    job = baselines_job(tickers=list(bars), pooling=pooling)
    walk = walk_forward_panel(bars, job, with_model=False)
    assert list(walk.backtests) == ["^GSPC", "^IXIC"]
    assert list(walk.left_out) == ["TINY", "LATE"]
    assert walk.left_out["TINY"].startswith("no window from ")
    assert "fewer than min_train_windows=100" in walk.left_out["LATE"]
    alone = backtest_panel(full, baselines_job(tickers=list(full)), with_model=False)
    for ticker, backtest in walk.backtests.items():
        pd.testing.assert_index_equal(backtest.origins, alone[ticker].origins)
        np.testing.assert_array_equal(backtest.fold, alone[ticker].fold)
        for name, forecast in alone[ticker].forecasts.items():
            np.testing.assert_allclose(backtest.forecasts[name], forecast, err_msg=name)


def test_a_walk_forward_of_one_short_ticker_is_refused(sample_bars) -> None:
    from fincast.evaluation.walkforward import walk_forward_panel

    with pytest.raises(ValueError, match="too few for lookback=10 and horizon=3"):
        walk_forward_panel(
            {"TINY": sample_bars["^GSPC"].iloc[-8:]}, baselines_job(), with_model=False
        )
    late = {"LATE": sample_bars["^GSPC"].iloc[-150:]}
    with pytest.raises(ValueError, match="Fold 0 would train on"):
        walk_forward_panel(late, baselines_job(tickers=["LATE"]), with_model=False)
