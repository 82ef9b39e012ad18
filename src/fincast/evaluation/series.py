"""A job's bars as the task sees them: each ticker's windows and daily series.

``fincast-train``'s hold-out and the walk-forward backtest both start here, so they
model the same windows of the same features and targets.
"""

from __future__ import annotations

import pandas as pd

from fincast.data.features import make_features
from fincast.data.windows import Windows
from fincast.evaluation.targets import daily_series
from fincast.evaluation.tasks import task_named
from fincast.specs import JobSpec


def prepare_series(
    bars: pd.DataFrame, job: JobSpec, ticker: str = ""
) -> tuple[Windows, pd.DataFrame]:
    """One ticker's windows (the task's targets) and its daily series."""
    features = make_features(bars, job.features.names, price=job.features.price)
    daily = daily_series(bars, features.index, price=job.features.price)
    windows = task_named(job.task.name).make_windows(
        features,
        daily,
        target=job.task.target,
        lookback=job.task.lookback,
        horizon=job.task.horizon,
        ticker=ticker,
    )
    return windows, daily


def prepare_panel(
    bars: dict[str, pd.DataFrame], job: JobSpec
) -> tuple[dict[str, Windows], dict[str, pd.DataFrame]]:
    """Every ticker's windows and daily series, in the order of ``bars``."""
    prepared = {ticker: prepare_series(frame, job, ticker) for ticker, frame in bars.items()}
    return (
        {ticker: pair[0] for ticker, pair in prepared.items()},
        {ticker: pair[1] for ticker, pair in prepared.items()},
    )
