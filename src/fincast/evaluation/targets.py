"""What each task forecasts: next-day log returns, or future realised volatility.

``returns``: the next ``h`` daily log returns (their cumulative sum is the implied
log price path). ``volatility``: for every step ``k = 1..h``, the annualised realised
volatility over the next ``k`` days, ``sqrt(252 * mean(GK_{t+1..t+k}))``, from the
Garman-Klass daily variance ``GK_t = 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2``. The last
step is the realised volatility over the whole horizon.

>>> import numpy as np
>>> cumulative_volatility(np.array([[1e-4, 3e-4]])).round(4).tolist()
[[0.1587, 0.2245]]
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from fincast.data.features import daily_variance, price_series, stale_opens, zero_ranges
from fincast.data.windows import Windows, make_windows

TRADING_DAYS = 252
VOLATILITY_TARGET = "realised_vol"


def cumulative_volatility(daily_variance: np.ndarray) -> np.ndarray:
    """Annualised volatility over the first ``k`` days of each row, for every ``k``.

    Args:
        daily_variance: ``(n, horizon)`` daily variances of the days after each origin.
    """
    steps = np.arange(1, daily_variance.shape[-1] + 1)
    return np.sqrt(TRADING_DAYS * np.cumsum(daily_variance, axis=-1) / steps)


def to_variance(volatility: np.ndarray) -> np.ndarray:
    """Annualised volatility back to a mean daily variance (what QLIKE and MSE score).

    >>> to_variance(np.array([0.1587401])).round(6).tolist()
    [0.0001]
    """
    return np.asarray(volatility, "float64") ** 2 / TRADING_DAYS


def recent_volatility(bars: pd.DataFrame, days: int, window: int = 20) -> pd.Series:
    """Annualised Garman-Klass realised volatility over the past ``window`` days (last ``days``)."""
    variance = daily_variance(bars).rolling(window).mean()
    return np.sqrt(TRADING_DAYS * variance).dropna().iloc[-days:].rename(VOLATILITY_TARGET)


def daily_series(bars: pd.DataFrame, index: pd.Index, price: str = "adj_close") -> pd.DataFrame:
    """The daily series baselines and reports need, on the feature rows' dates.

    Columns: ``price``, ``log_return`` (of that price), ``gk_variance`` (the daily
    variance of :func:`fincast.data.features.daily_variance`: Garman-Klass, with the
    Parkinson estimator on stale-open days and the squared close-to-close return on
    zero-range days) and the quirk flags ``stale_open`` and ``zero_range``.
    """
    prices = price_series(bars, price).astype("float64")
    frame = pd.DataFrame(
        {
            "price": prices,
            "log_return": pd.Series(np.log(prices), index=prices.index).diff(),
            "gk_variance": daily_variance(bars).astype("float64"),
            "stale_open": stale_opens(bars),
            "zero_range": zero_ranges(bars),
        }
    )
    return frame.reindex(index)


def return_windows(
    features: pd.DataFrame,
    daily: pd.DataFrame,
    *,
    target: str,
    lookback: int,
    horizon: int,
    ticker: str = "",
) -> Windows:
    """Windows whose targets are the next ``horizon`` values of feature ``target``.

    Raises:
        ValueError: ``target`` is not a feature.
    """
    if target not in features.columns:
        raise ValueError(
            f"The returns task forecasts a feature; target {target!r} is not one of "
            f"{list(features.columns)}."
        )
    return make_windows(features, target, lookback=lookback, horizon=horizon, ticker=ticker)


def volatility_windows(
    features: pd.DataFrame,
    daily: pd.DataFrame,
    *,
    target: str,
    lookback: int,
    horizon: int,
    ticker: str = "",
) -> Windows:
    """Windows whose targets are the realised volatility over the next ``k = 1..horizon`` days.

    Raises:
        ValueError: a target other than ``realised_vol``.
    """
    if target != VOLATILITY_TARGET:
        raise ValueError(
            f"The volatility task forecasts {VOLATILITY_TARGET!r}. Received: target={target!r}"
        )
    windows = make_windows(
        features, features.columns[0], lookback=lookback, horizon=horizon, ticker=ticker
    )
    return _with_volatility_targets(windows, features, daily, lookback=lookback)


def _with_volatility_targets(
    windows: Windows, features: pd.DataFrame, daily: pd.DataFrame, *, lookback: int
) -> Windows:
    horizon = windows.targets.shape[1]
    variance = daily["gk_variance"].reindex(features.index).to_numpy("float64")
    future = np.lib.stride_tricks.sliding_window_view(variance[lookback:], horizon)
    targets = cumulative_volatility(future[: len(windows)]).astype("float32")
    return dataclasses.replace(windows, targets=np.ascontiguousarray(targets))
