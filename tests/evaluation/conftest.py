"""Shared fixtures for the evaluation tests: the bundled S&P 500 bars, cut into folds."""

from __future__ import annotations

import pandas as pd
import pytest

from fincast.data.loading import load_bars
from fincast.evaluation.folds import Fold, FoldPlan, make_folds
from fincast.evaluation.series import prepare_series
from jobs import make_job


@pytest.fixture(scope="session")
def gspc_bars() -> pd.DataFrame:
    return load_bars("sample", ["^GSPC"])["^GSPC"]


def folds_of(
    bars: pd.DataFrame,
    task: str = "returns",
    *,
    folds: int = 2,
    step: int = 60,
    lookback: int = 30,
    horizon: int = 5,
) -> list[Fold]:
    job = make_job(tickers=["^GSPC"], task_name=task, lookback=lookback, horizon=horizon, verbose=0)
    windows, daily = prepare_series(bars, job)
    plan = FoldPlan(folds=folds, step=step, min_train_windows=100)
    return make_folds(windows, daily, horizon=horizon, plan=plan)


@pytest.fixture(scope="session")
def return_folds(gspc_bars) -> list[Fold]:
    return folds_of(gspc_bars.iloc[-1500:], "returns")


@pytest.fixture(scope="session")
def volatility_folds(gspc_bars) -> list[Fold]:
    return folds_of(gspc_bars.iloc[-1500:], "volatility")
