"""Calibrate a fitted model's prediction intervals on its validation windows.

The validation windows are the latest part of the training slice, cut off with a purge
and an embargo and never fitted on (they only choose the epoch by early stopping). Their
scores give, per horizon step, the split-conformal half width of a point model or the
CQR correction of a quantile model's interval (:mod:`fincast.conformal`). A point
model's scores are normalised by each window's recent volatility unless
``task.intervals.scale=none`` (the card's ``scale`` entry says how, so a serving path
rebuilds the scale from the window it forecasts). The result goes on the model card, so
every serving path gives the same interval.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fincast.conformal import (
    SCALE_COLUMN,
    cqr_corrections,
    interval_levels,
    scale_entry,
    scales_of,
    split_half_widths,
)
from fincast.fitting.batches import predict_windows
from fincast.fitting.forecaster import FittedForecaster
from fincast.specs import JobSpec

logger = logging.getLogger(__name__)


def interval_bounds(quantiles: list[float], level: float) -> tuple[int, int]:
    """Positions of the quantiles whose interval CQR widens: the level's own pair when
    the model forecasts it, else the outermost pair."""
    low, high = interval_levels(level)
    near = [index for index, value in enumerate(quantiles) if abs(value - low) < 1e-9]
    far = [index for index, value in enumerate(quantiles) if abs(value - high) < 1e-9]
    if near and far:
        return near[0], far[0]
    return int(np.argmin(quantiles)), int(np.argmax(quantiles))


def interval_scale(job: JobSpec, fitted: FittedForecaster) -> dict[str, Any] | None:
    """The card's ``scale`` entry of a point model's interval, or ``None`` (unscaled:
    ``task.intervals.scale=none``, or no log return among the inputs, logged)."""
    spec = job.task.intervals
    if spec.scale == "none" or job.task.quantiles:
        return None
    names = list(job.features.names)
    if SCALE_COLUMN not in names:
        logger.info(
            "The interval is not scaled by recent volatility: %r is not among the "
            "features %s (add it to features.names to scale it).",
            SCALE_COLUMN,
            names,
        )
        return None
    window = min(spec.scale_window, job.task.lookback)
    return scale_entry(fitted.validation.inputs, names.index(SCALE_COLUMN), window)


def validation_scores(fitted: FittedForecaster, scale: dict[str, Any] | None = None) -> np.ndarray:
    """``|y - y_hat|`` of a point model on its validation windows, ``(n, horizon)``,
    divided by each window's scale under a ``scale`` entry."""
    predicted = predict_windows(fitted.model, fitted.validation.inputs).astype("float64")
    scores = np.abs(np.asarray(fitted.validation.targets, dtype="float64") - predicted)
    scales = scales_of(scale, fitted.validation.inputs)
    return scores if scales is None else scores / scales[:, None]


def calibrate_intervals(job: JobSpec, fitted: FittedForecaster) -> dict[str, Any] | None:
    """The card's ``intervals`` entry, or ``None`` (no interval asked for, or too few
    validation windows for a finite one: logged)."""
    spec = job.task.intervals
    validation = fitted.validation
    if spec.method == "none":
        return None
    alpha = 1.0 - spec.level
    if not len(validation):
        logger.warning("No interval: no validation windows to calibrate it on.")
        return None
    predicted = predict_windows(fitted.model, validation.inputs).astype("float64")
    actual = np.asarray(validation.targets, dtype="float64")
    quantiles = list(job.task.quantiles or [])
    entry: dict[str, Any] = {"level": spec.level, "calibration_windows": len(validation)}
    if quantiles:
        low, high = interval_bounds(quantiles, spec.level)
        values = cqr_corrections(actual, predicted[..., low], predicted[..., high], alpha)
        entry.update(method="cqr", lower_quantile=quantiles[low], upper_quantile=quantiles[high])
        entry["correction"] = values.tolist()
    else:
        scale = interval_scale(job, fitted)
        scales = scales_of(scale, validation.inputs)
        if scales is not None:
            actual, predicted = actual / scales[:, None], predicted / scales[:, None]
        values = split_half_widths(actual, predicted, alpha)
        entry.update(method="split", half_width=values.tolist())
        if scale is not None:  # the half width is in units of each window's scale
            entry["scale"] = scale
    if not np.all(np.isfinite(values)):
        logger.warning(
            "No %g%% interval: %d validation windows are too few for a finite conformal "
            "quantile (at least %d are needed).",
            100 * spec.level,
            len(validation),
            int(np.ceil(1 / alpha)) - 1,
        )
        return None
    return entry
