"""Honest return baselines with the model's interface: a fold in, ``(n, horizon)`` forecasts out.

The plain functions compute one method; the fold functions (``naive``,
``historical_mean``, ``drift``, ``autoregressive``, ``historical_quantiles``) fit it
on the fold's training period only and forecast at each test origin from data up
to that origin only, like the model.

>>> import numpy as np
>>> naive_returns(np.zeros((2, 5, 1)), horizon=3).shape
(2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence, Sized

import numpy as np
import pandas as pd

from fincast.evaluation.folds import Fold

QUANTILE_LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)


def naive_returns(inputs: Sized, *, horizon: int) -> np.ndarray:
    """Random walk: tomorrow's price is today's, so every forecast return is zero."""
    return np.zeros((len(inputs), horizon), dtype="float32")


def historical_mean_returns(inputs: Sized, *, horizon: int, train_mean: float) -> np.ndarray:
    """The training slice's mean return, for every window and horizon step.

    >>> historical_mean_returns(np.zeros((1, 5, 1)), horizon=2, train_mean=0.5).tolist()
    [[0.5, 0.5]]
    """
    return np.full((len(inputs), horizon), train_mean, dtype="float32")


def ar_fit(returns: np.ndarray, order: int) -> np.ndarray:
    """Least-squares AR(p) with intercept: ``[c, phi_1, ..., phi_p]``.

    ``r_t = c + phi_1 r_{t-1} + ... + phi_p r_{t-p} + e_t``.

    >>> series = np.array([1.0, 0.5, 0.25, 0.125, 0.0625])
    >>> ar_fit(series, 1).round(6).tolist()
    [0.0, 0.5]
    """
    values = np.asarray(returns, "float64")
    if order < 1 or len(values) <= 2 * order + 1:
        raise ValueError(
            f"AR order must be >= 1 with more than 2 * order + 1 values. "
            f"Received: order={order}, values={len(values)}"
        )
    lags = np.column_stack([values[order - lag : len(values) - lag] for lag in range(1, order + 1)])
    design = np.column_stack([np.ones(len(lags)), lags])
    coefficients, *_ = np.linalg.lstsq(design, values[order:], rcond=None)
    return np.asarray(coefficients)


def ar_forecast(coefficients: np.ndarray, recent: np.ndarray, horizon: int) -> np.ndarray:
    """Iterated AR forecasts from many origins at once.

    Args:
        coefficients: ``[c, phi_1, ..., phi_p]`` from :func:`ar_fit`.
        recent: ``(n, p)`` latest values at each origin, most recent LAST.
        horizon: steps to forecast.

    >>> ar_forecast(np.array([0.0, 0.5]), np.array([[1.0]]), 3).tolist()
    [[0.5, 0.25, 0.125]]
    """
    intercept, phi = coefficients[0], coefficients[1:]
    history = np.asarray(recent, "float64")[:, ::-1].copy()  # most recent first
    steps = []
    for _ in range(horizon):
        step = intercept + history @ phi
        steps.append(step)
        history = np.column_stack([step, history[:, :-1]])
    return np.column_stack(steps)


def _lagged_at_origins(series: pd.Series, origins: pd.DatetimeIndex, order: int) -> np.ndarray:
    """``(n, order)`` values of the ``order`` days up to each origin, oldest first."""
    positions = series.index.get_indexer(origins)
    if (positions < order - 1).any():
        raise ValueError(f"An origin has fewer than {order} days of history before it.")
    values = series.to_numpy("float64")
    return np.stack([values[positions - lag] for lag in range(order - 1, -1, -1)], axis=1)


def naive(fold: Fold) -> np.ndarray:
    """Random walk (zero return, last price) at every test origin of ``fold``."""
    return naive_returns(fold.test.inputs, horizon=fold.horizon)


def historical_mean(fold: Fold) -> np.ndarray:
    """The mean daily log return of the fold's training period."""
    mean = float(fold.history()["log_return"].mean())
    return historical_mean_returns(fold.test.inputs, horizon=fold.horizon, train_mean=mean)


def drift(fold: Fold, window: int = 250) -> np.ndarray:
    """Drift method on the last ``window`` days: the slope of the log price up to each origin.

    The line through the log prices ``window`` days apart gives the mean daily log
    return of that stretch, forecast for every step.
    """
    rolling = fold.daily["log_return"].rolling(window, min_periods=max(window // 2, 1)).mean()
    slope = rolling.reindex(fold.origins).fillna(0.0).to_numpy("float32")
    return np.repeat(slope[:, None], fold.horizon, axis=1)


def autoregressive(fold: Fold, order: int = 5) -> np.ndarray:
    """AR(order) by least squares on the training period, iterated over the horizon."""
    history = fold.history()["log_return"].dropna()
    coefficients = ar_fit(history.to_numpy(), order)
    recent = _lagged_at_origins(fold.daily["log_return"], fold.origins, order)
    return ar_forecast(coefficients, recent, fold.horizon).astype("float32")


def historical_quantiles(fold: Fold, levels: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
    """Empirical quantiles of the training period's daily returns: ``(n, horizon, q)``.

    A quantile baseline: its intervals say how often daily returns fell outside a
    band in the past; every step gets the same one-day quantiles.
    """
    returns = fold.history()["log_return"].dropna().to_numpy("float64")
    values = np.quantile(returns, list(levels)).astype("float32")
    return np.broadcast_to(values, (len(fold.test), fold.horizon, len(values))).copy()
