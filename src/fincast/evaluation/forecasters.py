"""Everything a walk-forward backtest scores, behind one interface: ``forecast(fold) -> array``.

A forecaster fits on ``fold.train`` / ``fold.history()`` and returns forecasts for
``fold.test``: ``(n, horizon)`` points, or ``(n, horizon, q)`` quantiles at given
levels. The Keras model (:class:`ModelForecaster`) and every baseline share it. A
pooled candidate (the model of a pooled job) forecasts a whole panel fold at once;
the others forecast one ticker at a time (:func:`fincast.evaluation.runner.run_fold`
hands them each ticker's part).

This module never imports Keras at import time: worker processes set the backend first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fincast.evaluation.folds import Fold
from fincast.specs import JobSpec

ForecastFunction = Callable[[Fold], np.ndarray]
MODEL = "model"


@dataclass(frozen=True)
class Candidate:
    """A named forecaster; ``levels`` are its quantile levels when it forecasts quantiles.

    ``pooled`` candidates forecast every ticker of a fold at once; the others see one
    ticker's part of the fold at a time.
    """

    name: str
    forecast: ForecastFunction
    levels: tuple[float, ...] | None = None
    pooled: bool = False


@dataclass
class ModelForecaster:
    """The job's Keras model, refitted by the one fit on each refit fold's training windows.

    :func:`fincast.fitting.forecaster.fit_forecaster` fits it exactly as
    ``fincast-train`` fits the model it deploys (scaling, seed, loss, schedule,
    early stopping, precision). Folds with ``refit=False`` reuse the previous fit.
    """

    job: JobSpec
    model: Any = field(default=None, repr=False)
    history: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def __call__(self, fold: Fold) -> np.ndarray:
        """Fit on ``fold`` when it is a refit fold (or nothing is fitted), then forecast."""
        from fincast.fitting.batches import predict_windows

        if fold.refit or self.model is None:
            self.fit(fold)
        return predict_windows(self.model, fold.test.inputs)

    def fit(self, fold: Fold) -> None:
        """Fit normalisation and weights on the fold's training windows only."""
        from fincast.fitting.forecaster import fit_forecaster

        fitted = fit_forecaster(self.job, fold.train, verbose=0)
        self.model, self.history = fitted.model, fitted.result.history


def model_candidate(job: JobSpec) -> Candidate:
    """The job's model as a candidate: pooled over the fold's tickers for a pooled job."""
    quantiles = tuple(job.task.quantiles) if job.task.quantiles else None
    pooled = job.training.pooling == "pooled"
    return Candidate(MODEL, ModelForecaster(job), quantiles, pooled=pooled)
