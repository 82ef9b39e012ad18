"""Conformal prediction intervals: split conformal, conformalised quantile regression, ACI.

Three ways to turn a forecaster into calibrated intervals at level ``1 - alpha``, each
per horizon step (every step has its own residual scale):

- **Split conformal** (point forecasts; Vovk et al. 2005, Lei et al. 2018): on
  calibration windows the model never fitted on, the scores are ``|y - y_hat|``; the
  interval is ``y_hat +/- q``, ``q`` their ``ceil((n + 1)(1 - alpha)) / n`` empirical
  quantile, which covers a new exchangeable value with probability at least ``1 - alpha``.
- **Conformalised quantile regression** (quantile forecasts; Romano, Patterson & Candes
  2019): the scores are ``max(lower - y, y - upper)`` of the model's own interval, and
  the interval ``[lower - q, upper + q]`` widens (or, with ``q < 0``, narrows) it.
- **Adaptive conformal inference** (Gibbs & Candes 2021), for a target whose scale
  drifts: the level used at each origin follows ``alpha_{t+1} = alpha_t + gamma
  (alpha - err_t)`` where ``err_t`` is 1 when the origin's interval missed. The miss of
  an origin is known only ``horizon`` sessions later, so the update at origin ``t`` uses
  the origins whose targets were all realised by then.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METHODS = ("none", "split", "aci")
SCALE_COLUMN = "log_return"
# the smallest scale, as a share of the calibration windows' median (a flat window of a
# stale quote must not give a zero-width interval)
SCALE_FLOOR = 0.1


def conformal_quantile(scores: np.ndarray, alpha: float) -> np.ndarray:
    """The finite-sample conformal quantile of ``scores`` along axis 0 (per column).

    The ``k``-th smallest of ``n`` scores with ``k = ceil((n + 1)(1 - alpha))``; when
    ``k > n`` the interval must be infinite to guarantee coverage, and ``inf`` is returned.

    >>> conformal_quantile(np.arange(1.0, 10.0), 0.2).item()  # k = ceil(10 * 0.8) = 8
    8.0
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1). Received: {alpha=}")
    values = np.sort(np.asarray(scores, dtype="float64"), axis=0)
    count = len(values)
    rank = math.ceil((count + 1) * (1 - alpha))
    if count == 0 or rank > count:
        return np.full(values.shape[1:], np.inf)
    return values[rank - 1]


def recent_scale(inputs: Any, position: int, window: int, floor: float = 0.0) -> np.ndarray:
    """Each input window's scale ``(n,)``: the root mean square of column ``position``
    over its last ``window`` steps, at least ``floor``.

    ``inputs``: ``(n, lookback, features)``, a numpy array or a lazy
    :class:`fincast.data.windows.WindowArray` (only the tail is gathered).

    >>> recent_scale(np.array([[[3.0], [-4.0]]]), 0, 2).round(4).tolist()
    [3.5355]
    """
    tail = np.asarray(inputs[:, -window:, position], dtype="float64")
    return np.maximum(np.sqrt(np.mean(tail**2, axis=1)), floor)


def scale_entry(inputs: Any, position: int, window: int) -> dict[str, Any]:
    """The card's ``scale`` entry: which column and window give ``s``, and its floor
    (:data:`SCALE_FLOOR` of the calibration windows' median scale)."""
    median = float(np.median(recent_scale(inputs, position, window))) if len(inputs) else 0.0
    return {
        "column": SCALE_COLUMN,
        "position": int(position),
        "window": int(window),
        "floor": max(SCALE_FLOOR * median, 1e-12),
    }


def scales_of(entry: Mapping[str, Any] | None, inputs: Any) -> np.ndarray | None:
    """The windows' scales under a card's ``scale`` entry (``None``: unscaled)."""
    if not entry:
        return None
    return recent_scale(inputs, int(entry["position"]), int(entry["window"]), entry["floor"])


def split_half_widths(actual: np.ndarray, predicted: np.ndarray, alpha: float) -> np.ndarray:
    """Split conformal: per horizon step, the half width of ``y_hat +/- q`` (shape ``(h,)``)."""
    return conformal_quantile(np.abs(np.asarray(actual) - np.asarray(predicted)), alpha)


def cqr_corrections(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float
) -> np.ndarray:
    """Conformalised quantile regression: per step, how far to move both bounds outward."""
    actual = np.asarray(actual, dtype="float64")
    scores = np.maximum(np.asarray(lower) - actual, actual - np.asarray(upper))
    return conformal_quantile(scores, alpha)


def interval_levels(level: float) -> tuple[float, float]:
    """The quantile levels that bound a central interval of coverage ``level``.

    >>> interval_levels(0.8)
    (0.1, 0.9)
    """
    if not 0 < level < 1:
        raise ValueError(f"The interval level must be in (0, 1). Received: {level=}")
    tail = round((1 - level) / 2, 10)
    return tail, round(1 - tail, 10)


def aci_intervals(
    predicted: np.ndarray,
    actual: np.ndarray,
    calibration_scores: Sequence[np.ndarray],
    alpha: float,
    gamma: float,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ACI over a run of test origins, in time order (one horizon step's values).

    Each origin's half width is the conformal quantile, at its current level, of the
    calibration scores it may use (``calibration_scores[t]``: the fold's validation
    scores, so a refit brings new ones); its level then moves with the misses it knows.
    A level at or below 0 gives an infinite interval, at or above 1 an empty one (0).

    Returns:
        The half widths, the levels used and the misses, one per origin.
    """
    predicted = np.asarray(predicted, dtype="float64")
    actual = np.asarray(actual, dtype="float64")
    widths = np.empty(len(predicted))
    levels = np.empty(len(predicted))
    misses = np.zeros(len(predicted))
    current = alpha
    for origin in range(len(predicted)):
        known = origin - horizon
        if known >= 0:
            current = current + gamma * (alpha - misses[known])
        levels[origin] = current
        if current <= 0:
            widths[origin] = np.inf
        elif current >= 1:
            widths[origin] = 0.0
        else:
            widths[origin] = float(conformal_quantile(calibration_scores[origin], current))
        misses[origin] = float(abs(actual[origin] - predicted[origin]) > widths[origin])
    return widths, levels, misses


def interval_of(
    card: Mapping[str, Any],
    output: np.ndarray,
    point: np.ndarray,
    window: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """A forecast's calibrated interval (lower and upper per step) from the card's entry.

    Args:
        card: the model card (its ``intervals`` and ``quantiles``).
        output: the model's output for one window: ``(h,)`` or ``(h, levels)``.
        point: the point forecast per step.
        window: the input window ``(lookback, features)`` (needed when the interval is
            scaled by the window's recent volatility).
    """
    entry = card.get("intervals")
    if not entry:
        return None
    if entry["method"] == "cqr":
        levels = [float(level) for level in card["quantiles"]]
        low, high = levels.index(entry["lower_quantile"]), levels.index(entry["upper_quantile"])
        correction = np.asarray(entry["correction"])
        lower, upper = output[:, low] - correction, output[:, high] + correction
    else:
        width = np.asarray(entry["half_width"])
        if entry.get("scale"):
            if window is None:
                raise ValueError("This model's interval scales with the input window: pass it.")
            scale = entry["scale"]
            width = width * float(
                recent_scale(
                    np.asarray(window)[None], scale["position"], scale["window"], scale["floor"]
                )[0]
            )
        lower, upper = point - width, point + width
    described = {"level": float(entry["level"]), "method": str(entry["method"])}
    if entry.get("scale"):
        described["scale_window"] = int(entry["scale"]["window"])
    return {
        **described,
        "lower": [float(value) for value in lower],
        "upper": [float(value) for value in upper],
    }
