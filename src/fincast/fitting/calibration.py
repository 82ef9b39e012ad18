"""Calibrate a fitted model's prediction intervals on its validation windows.

The validation windows are the latest part of the training slice, cut off with a purge
and an embargo and never fitted on (they only choose the epoch by early stopping). Their
scores give, per horizon step, the split-conformal half width of a point model or the
CQR correction of a quantile model's interval (:mod:`fincast.conformal`). The result
goes on the model card, so every serving path gives the same interval.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fincast.conformal import cqr_corrections, interval_levels, split_half_widths
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


def validation_scores(fitted: FittedForecaster) -> np.ndarray:
    """``|y - y_hat|`` of a point model on its validation windows, ``(n, horizon)``."""
    predicted = predict_windows(fitted.model, fitted.validation.inputs).astype("float64")
    return np.abs(np.asarray(fitted.validation.targets, dtype="float64") - predicted)


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
        values = split_half_widths(actual, predicted, alpha)
        entry.update(method="split", half_width=values.tolist())
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
