"""Walk-forward backtest of the model and the task's baselines on the same folds.

``historical_forecasts`` (see :mod:`fincast.evaluation.runner`) gives every
forecaster's forecasts fold by fold; this module loads the data, cuts the folds
and gathers the forecasts into one :class:`Backtest` per ticker, which
:mod:`fincast.evaluation.report` scores. Plain keyword arguments only (no Hydra).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fincast.data.features import make_features
from fincast.data.loading import load_bars
from fincast.data.windows import Windows
from fincast.evaluation.folds import Fold, FoldPlan, make_folds
from fincast.evaluation.forecasters import (
    MODEL,
    Candidate,
    ModelForecaster,
    baseline_candidates,
    point_forecast,
)
from fincast.evaluation.losses import task_loss
from fincast.evaluation.metrics import naive_scale
from fincast.evaluation.runner import FoldResult, historical_forecasts
from fincast.evaluation.targets import daily_series, task_windows


@dataclass
class WalkForwardJob:
    """Everything a walk-forward backtest needs, as plain values."""

    tickers: list[str]
    build_model: Callable[..., Any] | None
    task: str = "returns"
    model_family: str = "lstm"
    source: str = "sample"
    data_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str = "data/cache"
    # yfinance cache policy: never | missing | always (fincast.data.refresh)
    refresh: str = "missing"
    features: list[str] = field(
        default_factory=lambda: ["log_return", "log_range", "volume_change"]
    )
    price: str = "adj_close"
    target: str = "log_return"
    lookback: int = 60
    horizon: int = 5
    # quantile levels of a quantile model (must include 0.5); None = point forecasts
    quantiles: list[float] | None = None
    plan: FoldPlan = field(default_factory=FoldPlan)
    baselines: list[str] | None = None
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    # XLA: "auto" (Keras' choice), True or False (fincast.training.fit.jit_compile_setting)
    jit_compile: bool | str = "auto"
    validation_fraction: float = 0.15
    seed: int = 42
    verbose: int | str = 0
    n_jobs: int = 1


@dataclass
class Backtest:
    """Every forecaster's forecasts over all test folds of one series, in time order."""

    task: str
    ticker: str
    horizon: int
    origins: pd.DatetimeIndex
    fold: np.ndarray
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    levels: dict[str, tuple[float, ...] | None]
    last_price: np.ndarray
    price_scale: np.ndarray
    folds: pd.DataFrame

    def point(self, name: str) -> np.ndarray:
        """``name``'s point forecasts ``(n, horizon)`` (the median of quantile forecasts)."""
        return point_forecast(self.forecasts[name], self.levels.get(name))

    @property
    def baselines(self) -> list[str]:
        """Every forecaster except the model."""
        return [name for name in self.forecasts if name != MODEL]


def prepare_series(bars: pd.DataFrame, job: WalkForwardJob) -> tuple[Windows, pd.DataFrame]:
    """The task's windows and the daily series of one ticker's bars."""
    features = make_features(bars, job.features, price=job.price)
    daily = daily_series(bars, features.index, price=job.price)
    windows = task_windows(
        job.task, features, daily, target=job.target, lookback=job.lookback, horizon=job.horizon
    )
    return windows, daily


def candidates_for(job: WalkForwardJob) -> list[Candidate]:
    """The model (when a builder is given) followed by the task's baselines."""
    found = baseline_candidates(job.task, job.baselines)
    if job.build_model is None:
        return found
    model = ModelForecaster(
        job.build_model,
        epochs=job.epochs,
        batch_size=job.batch_size,
        learning_rate=job.learning_rate,
        patience=job.patience,
        jit_compile=job.jit_compile,
        validation_fraction=job.validation_fraction,
        seed=job.seed,
        verbose=job.verbose,
        quantiles=tuple(job.quantiles) if job.quantiles else None,
        target_feature=job.features.index(job.target) if job.target in job.features else 0,
    )
    return [Candidate(MODEL, model, model.quantiles), *found]


def backtest_series(
    bars: pd.DataFrame,
    job: WalkForwardJob,
    *,
    ticker: str = "series",
    progress: Callable[[FoldResult, int], None] | None = None,
) -> Backtest:
    """Walk-forward backtest of one ticker: folds, forecasts of every candidate, gathered."""
    windows, daily = prepare_series(bars, job)
    folds = make_folds(windows, daily, horizon=job.horizon, plan=job.plan)
    candidates = candidates_for(job)
    results = historical_forecasts(
        folds,
        candidates,
        task_loss(job.task),
        n_jobs=job.n_jobs,
        progress=None if progress is None else lambda result: progress(result, len(folds)),
    )
    return gather(job.task, ticker, folds, results, candidates)


def gather(
    task: str,
    ticker: str,
    folds: list[Fold],
    results: list[FoldResult],
    candidates: list[Candidate],
) -> Backtest:
    """One :class:`Backtest` from the folds and their results (sorted by fold)."""
    tests = [fold.test for fold in folds]
    scales = [naive_scale(fold.history()["price"].to_numpy()) for fold in folds]
    return Backtest(
        task=task,
        ticker=ticker,
        horizon=folds[0].horizon,
        origins=pd.DatetimeIndex(np.concatenate([test.as_of for test in tests])),
        fold=np.concatenate(
            [np.full(len(test), fold.index) for fold, test in zip(folds, tests, strict=True)]
        ),
        actual=np.concatenate([test.targets for test in tests]).astype("float64"),
        forecasts={
            c.name: np.concatenate([r.forecasts[c.name] for r in results]).astype("float64")
            for c in candidates
        },
        levels={candidate.name: candidate.levels for candidate in candidates},
        last_price=np.concatenate(
            [fold.daily["price"].reindex(fold.origins).to_numpy("float64") for fold in folds]
        ),
        price_scale=np.concatenate(
            [np.full(len(test), scale) for scale, test in zip(scales, tests, strict=True)]
        ),
        folds=fold_table(results),
    )


def fold_table(results: list[FoldResult]) -> pd.DataFrame:
    """One row per fold: dates, sizes, whether it refitted, seconds, and each loss."""
    rows = []
    for result in results:
        row = {
            key: getattr(result, key)
            for key in ("index", "refit", "train_start", "train_end", "test_start", "test_end")
        }
        row.update(train_windows=result.train_windows, test_windows=result.test_windows)
        row["seconds"] = result.seconds
        row.update({f"loss_{name}": value for name, value in result.losses.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("index")


def load_job_bars(job: WalkForwardJob) -> dict[str, pd.DataFrame]:
    """The validated bars of the job's tickers."""
    return load_bars(
        job.source,
        job.tickers,
        cache_dir=job.cache_dir,
        refresh=job.refresh,
        options=job.data_options,
    )


def run_walkforward(
    job: WalkForwardJob, progress: Callable[[FoldResult, int], None] | None = None
) -> dict[str, Backtest]:
    """Load each ticker's bars and backtest it; one :class:`Backtest` per ticker."""
    bars = load_job_bars(job)
    return {
        ticker: backtest_series(frame, job, ticker=ticker, progress=progress)
        for ticker, frame in bars.items()
    }
