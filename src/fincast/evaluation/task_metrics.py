"""Each task's score row of one forecaster in a walk-forward backtest.

:mod:`fincast.evaluation.tasks` names which row function a task uses;
:mod:`fincast.evaluation.report` puts the rows into the scores table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fincast.evaluation import metrics
from fincast.evaluation.stats import binomial_test
from fincast.evaluation.targets import to_variance

if TYPE_CHECKING:
    from fincast.evaluation.backtest_record import Backtest

INTERVALS = {80: (0.1, 0.9), 90: (0.05, 0.95)}


def return_metrics(backtest: Backtest, name: str) -> dict[str, float]:
    """Log-return, direction and implied-price metrics of one forecaster (returns task)."""
    actual, point = backtest.actual, backtest.point(name)
    hits, calls = metrics.direction_counts(actual[:, 0], point[:, 0])
    actual_path = backtest.last_price[:, None] * np.exp(np.cumsum(actual, axis=1))
    price_path = backtest.last_price[:, None] * np.exp(np.cumsum(point, axis=1))
    row = {
        "mse": metrics.mse(actual, point),
        "mae": metrics.mae(actual, point),
        "hit_rate": hits / calls if calls else float("nan"),
        "hit_chance": metrics.chance_hit_rate(actual[:, 0], point[:, 0]),
        "hit_p": _hit_p_value(hits, calls, metrics.chance_hit_rate(actual[:, 0], point[:, 0])),
        "price_mae": metrics.mae(actual_path, price_path),
        "price_rmse": metrics.rmse(actual_path, price_path),
        "price_mase": metrics.mase(actual_path, price_path, backtest.price_scale),
        "price_smape": metrics.smape(actual_path, price_path),
    }
    row.update(quantile_metrics(backtest, name))
    return row


def _hit_p_value(hits: int, calls: int, chance: float) -> float:
    """Binomial test of the hit count against the chance rate (1.0 when chance is 0 or 1)."""
    if not 0 < chance < 1:
        return float("nan") if calls == 0 else 1.0
    return binomial_test(hits, calls, chance)


def quantile_metrics(backtest: Backtest, name: str) -> dict[str, float]:
    """Pinball loss and 80% / 90% interval coverage; NaN for point forecasters."""
    levels = backtest.levels.get(name)
    row = {"pinball": float("nan"), **{f"cover_{size}": float("nan") for size in INTERVALS}}
    if levels is None:
        return row
    forecast = backtest.forecasts[name]
    row["pinball"] = metrics.pinball_loss(backtest.actual, forecast, levels)
    for size, (low, high) in INTERVALS.items():
        if low in levels and high in levels:
            lower = forecast[..., list(levels).index(low)]
            upper = forecast[..., list(levels).index(high)]
            row[f"cover_{size}"] = metrics.coverage(backtest.actual, lower, upper)
    return row


def volatility_metrics(backtest: Backtest, name: str) -> dict[str, float]:
    """QLIKE and MSE of the (annualised) variances, and RMSE / MAE of the volatilities."""
    actual, point = backtest.actual, backtest.point(name)
    return {
        "qlike": metrics.qlike(to_variance(actual), to_variance(point)),
        "mse_var": metrics.mse(actual**2, point**2),
        "rmse_vol": metrics.rmse(actual, point),
        "mae_vol": metrics.mae(actual, point),
    }
