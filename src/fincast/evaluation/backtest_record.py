"""The record of one series' walk-forward backtest: every forecaster's forecasts, in time order.

:mod:`fincast.evaluation.walkforward` fills it; the task's score rows
(:mod:`fincast.evaluation.task_metrics`), :mod:`fincast.evaluation.report` and the
plots read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fincast.evaluation.forecasters import MODEL
from fincast.quantiles import point_forecast


@dataclass
class Backtest:
    """Every forecaster's forecasts over all test folds of one series, in time order.

    ``fitted_on`` names the tickers the model was fitted on in each fold: all of
    the job's for a pooled model, this ticker alone for a per-ticker model.
    """

    task: str
    ticker: str
    horizon: int
    origins: pd.DatetimeIndex
    # the first target day of each origin: the day its one-day return is earned
    target_start: pd.DatetimeIndex
    fold: np.ndarray
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    levels: dict[str, tuple[float, ...] | None]
    last_price: np.ndarray
    price_scale: np.ndarray
    folds: pd.DataFrame
    fitted_on: tuple[str, ...] = ()
    # days of the series (up to the last origin) with a stale open or no intraday range
    quirks: dict[str, int] = field(default_factory=dict)

    def point(self, name: str) -> np.ndarray:
        """``name``'s point forecasts ``(n, horizon)`` (the median of quantile forecasts)."""
        return point_forecast(self.forecasts[name], self.levels.get(name))

    @property
    def baselines(self) -> list[str]:
        """Every forecaster except the model."""
        return [name for name in self.forecasts if name != MODEL]
