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

from fincast.conformal import interval_levels, scales_of
from fincast.evaluation.adaptive import AdaptiveIntervals
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
    # the fold's calibrated interval (fincast.fitting.calibration), as training stores it
    intervals: dict[str, Any] | None = field(default=None, repr=False)
    # the fitting fold's validation scores |y - y_hat| / s, the scale s's card entry (None:
    # unscaled) and the ACI state (method aci)
    scores: np.ndarray | None = field(default=None, repr=False)
    scale: dict[str, Any] | None = field(default=None, repr=False)
    adaptive: AdaptiveIntervals | None = field(default=None, repr=False)

    def __call__(self, fold: Fold) -> np.ndarray:
        """Fit on ``fold`` when it is a refit fold (or nothing is fitted), then forecast.

        With ``task.intervals`` the forecasts carry the fold's calibrated interval, as the
        deployed model's card does: a point model's become ``(n, horizon, 3)`` quantiles
        (lower, point, upper at :func:`interval_levels`), a quantile model's outer pair
        its conformalised bounds; with ``method=aci`` a point model's half widths move
        online (:mod:`fincast.evaluation.adaptive`). Too few validation windows for a
        finite interval give infinite bounds (coverage 1, infinite width), never a
        made-up one.
        """
        from fincast.fitting.batches import predict_windows

        if fold.refit or self.model is None:
            self.fit(fold)
        predicted = np.asarray(predict_windows(self.model, fold.test.inputs), dtype="float64")
        if self.adaptive is not None and self.scores is not None:
            scales = scales_of(self.scale, fold.test.inputs)
            widths = self.adaptive.half_widths(fold.test, predicted, self.scores, scales)
            return np.stack([predicted - widths, predicted, predicted + widths], axis=-1)
        return with_interval(self.job, predicted, self.intervals, fold.test.inputs)

    def fit(self, fold: Fold) -> None:
        """Fit normalisation and weights on the fold's training windows only."""
        from fincast.fitting.calibration import (
            calibrate_intervals,
            interval_scale,
            validation_scores,
        )
        from fincast.fitting.forecaster import fit_forecaster

        fitted = fit_forecaster(self.job, fold.train, verbose=0)
        self.model, self.history = fitted.model, fitted.result.history
        self.intervals = calibrate_intervals(self.job, fitted)
        spec = self.job.task.intervals
        if spec.method == "aci" and not self.job.task.quantiles and len(fitted.validation):
            self.scale = interval_scale(self.job, fitted)
            self.scores = validation_scores(fitted, self.scale)
            if self.adaptive is None:
                horizon = self.job.task.horizon
                self.adaptive = AdaptiveIntervals(1 - spec.level, spec.gamma, horizon)


def model_levels(job: JobSpec) -> tuple[float, ...] | None:
    """The quantile levels of the model's walk-forward forecasts: its own, or those of its
    calibrated interval around the point forecast, or ``None`` (a plain point forecast)."""
    if job.task.quantiles:
        return tuple(job.task.quantiles)
    if job.task.intervals.method == "none":
        return None
    low, high = interval_levels(job.task.intervals.level)
    return (low, 0.5, high)


def with_interval(
    job: JobSpec, predicted: np.ndarray, intervals: dict[str, Any] | None, inputs: Any = None
) -> np.ndarray:
    """The model's forecasts at :func:`model_levels`, with the calibrated interval.

    ``inputs``: the forecast windows, for an interval scaled by their recent volatility.
    """
    levels = model_levels(job)
    if levels is None:
        return predicted
    if job.task.quantiles:  # conformalised quantile regression of the outer pair
        if not intervals:
            return predicted
        low = list(levels).index(intervals["lower_quantile"])
        high = list(levels).index(intervals["upper_quantile"])
        correction = np.asarray(intervals["correction"])
        widened = predicted.copy()
        widened[..., low] -= correction
        widened[..., high] += correction
        return widened
    width = np.asarray(intervals["half_width"]) if intervals else np.inf
    scales = scales_of(intervals.get("scale") if intervals else None, inputs)
    if scales is not None:
        width = width * scales[:, None]
    return np.stack([predicted - width, predicted, predicted + width], axis=-1)


def model_candidate(job: JobSpec) -> Candidate:
    """The job's model as a candidate: pooled over the fold's tickers for a pooled job."""
    pooled = job.training.pooling == "pooled"
    return Candidate(MODEL, ModelForecaster(job), model_levels(job), pooled=pooled)
