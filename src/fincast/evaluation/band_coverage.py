"""Is the dashboard's price band honest? Its coverage of realised k-day prices in a backtest.

The Forecast page draws, at step ``k``, the band of :func:`fincast.bands.price_quantiles`.
Over a walk-forward backtest of a quantile forecaster, :func:`band_coverage` counts how
often the realised price ``k`` sessions after each origin fell inside it, for every
``k``; an honest 80% band holds about 80% at every step. Beside it: the old band
(per-step quantiles summed over steps), and how often day ``k``'s own log return fell
inside the model's own quantiles for day ``k`` (the model's calibration, which the band
inherits: a band that misses where the daily quantiles already miss is the model's fault,
not the method's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fincast.bands import price_quantiles
from fincast.evaluation.backtest_record import Backtest
from fincast.evaluation.forecasters import MODEL


def _position(levels: tuple[float, ...], level: float, name: str) -> int:
    for index, value in enumerate(levels):
        if abs(value - level) < 1e-9:
            return index
    raise ValueError(
        f"Forecaster {name!r} has no {level:g} quantile; its levels are {list(levels)}. "
        "Pick low and high among them."
    )


def band_coverage(
    backtest: Backtest, name: str = MODEL, low: float = 0.1, high: float = 0.9
) -> pd.DataFrame:
    """Share of realised k-day prices inside the ``low``..``high`` price band, per step ``k``.

    Args:
        backtest: a walk-forward backtest holding ``name``'s quantile forecasts.
        name: the quantile forecaster (the model by default).
        low: the band's lower quantile level.
        high: the band's upper quantile level.

    Returns:
        One row per step ``k`` (``1..horizon``): ``coverage`` of the cumulative-return band,
        ``summed_coverage`` of the old per-step-sum band, ``daily_coverage`` of day ``k``'s
        return by day ``k``'s own quantiles (shares in 0..1), and ``windows``.

    Raises:
        ValueError: ``name`` is not in the backtest, has no quantiles, or lacks a level.
    """
    if name not in backtest.forecasts:
        raise ValueError(
            f"The backtest holds no forecaster {name!r}; it holds {sorted(backtest.forecasts)}."
        )
    levels = backtest.levels.get(name)
    if not levels:
        raise ValueError(f"Forecaster {name!r} forecasts points, not quantiles: no band.")
    lower_at, upper_at = _position(levels, low, name), _position(levels, high, name)
    forecast = backtest.forecasts[name]
    last = backtest.last_price[:, None]
    realised = last * np.exp(np.cumsum(backtest.actual, axis=1))
    band = price_quantiles(backtest.last_price, forecast, levels)
    summed = last[..., None] * np.exp(np.cumsum(forecast, axis=1))

    def inside(prices: np.ndarray) -> np.ndarray:
        hits = (realised >= prices[..., lower_at]) & (realised <= prices[..., upper_at])
        return hits.mean(axis=0)

    daily = (backtest.actual >= forecast[..., lower_at]) & (
        backtest.actual <= forecast[..., upper_at]
    )
    steps = pd.RangeIndex(1, backtest.horizon + 1, name="step")
    return pd.DataFrame(
        {
            "coverage": inside(band),
            "summed_coverage": inside(summed),
            "daily_coverage": daily.mean(axis=0),
            "windows": len(realised),
        },
        index=steps,
    )
