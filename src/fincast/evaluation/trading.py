"""A return forecast as a trading rule, with costs, next to buy-and-hold.

At each origin ``t`` the rule holds ``+1`` (long) when the one-day forecast is above
``threshold``, ``-1`` (short; ``0`` when ``long_only``) when below ``-threshold``, else
``0``, and earns the next day's simple return. Every change of position costs
``cost_bps`` basis points of the traded amount (entering the first position included).
The risk-free rate is taken as zero.

>>> import numpy as np
>>> positions(np.array([0.02, -0.01, 0.001]), threshold=0.005).tolist()
[1.0, -1.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fincast.evaluation.metrics import direction_counts

TRADING_DAYS = 252
BUY_AND_HOLD = "buy_and_hold"


@dataclass(frozen=True)
class Strategy:
    """The rule's settings: forecast threshold, cost per unit traded, and long-only."""

    threshold: float = 0.0
    cost_bps: float = 5.0
    long_only: bool = False


def positions(signal: np.ndarray, *, threshold: float = 0.0, long_only: bool = False) -> np.ndarray:
    """``+1`` / ``-1`` / ``0`` per day from a one-day return forecast."""
    signal = np.asarray(signal, "float64")
    held = np.where(signal > threshold, 1.0, np.where(signal < -threshold, -1.0, 0.0))
    return np.maximum(held, 0.0) if long_only else held


def strategy_returns(held: np.ndarray, next_log_returns: np.ndarray, cost_bps: float) -> np.ndarray:
    """Daily simple returns of holding ``held`` over the next day, net of trading costs.

    >>> held = np.array([1.0, 1.0, -1.0])
    >>> strategy_returns(held, np.log([1.01, 0.98, 0.99]), 10.0).round(4).tolist()
    [0.009, -0.02, 0.008]
    """
    held = np.asarray(held, "float64")
    traded = np.abs(np.diff(held, prepend=0.0))
    gross = held * np.expm1(np.asarray(next_log_returns, "float64"))
    return np.asarray(gross - traded * cost_bps / 1e4)


def max_drawdown(returns: np.ndarray) -> float:
    """Worst fall of the equity curve from its running peak, as a negative fraction.

    >>> max_drawdown(np.array([0.1, -0.5, 0.2]))
    -0.5
    """
    equity = np.cumprod(1 + np.asarray(returns, "float64"))
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return float(min(0.0, np.min(equity / peaks - 1)))


def performance(
    returns: np.ndarray, held: np.ndarray, next_log_returns: np.ndarray
) -> dict[str, float]:
    """Annualised return and volatility, Sharpe, Sortino, max drawdown, turnover, hit rate.

    Turnover is the traded amount per year, in units of the position (2 = a full
    flip once a year); hit rate counts days in the market whose direction was right.
    """
    returns = np.asarray(returns, "float64")
    days = len(returns)
    growth = float(np.prod(1 + returns))
    deviation = float(np.std(returns, ddof=1)) if days > 1 else float("nan")
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    mean = float(np.mean(returns))
    hits, calls = direction_counts(next_log_returns, held)
    return {
        "annual_return": growth ** (TRADING_DAYS / days) - 1 if growth > 0 else -1.0,
        "annual_volatility": deviation * np.sqrt(TRADING_DAYS),
        "sharpe": _ratio(mean, deviation),
        "sortino": _ratio(mean, downside),
        "max_drawdown": max_drawdown(returns),
        "turnover": float(np.abs(np.diff(held, prepend=0.0)).sum() / days * TRADING_DAYS),
        "hit_rate": hits / calls if calls else float("nan"),
        "days_in_market": float(np.mean(np.asarray(held) != 0)),
    }


def _ratio(mean: float, deviation: float) -> float:
    if not deviation > 0:
        return float("nan")
    return float(mean / deviation * np.sqrt(TRADING_DAYS))


def trade(
    one_day_forecasts: dict[str, np.ndarray], next_log_returns: np.ndarray, strategy: Strategy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trading table (one row per forecaster, plus buy-and-hold) and daily equity curves.

    Args:
        one_day_forecasts: forecaster -> one-day-ahead return forecast per origin.
        next_log_returns: the realised next-day log return at each origin.
        strategy: threshold, costs and long-only setting.
    """
    held_by = {
        name: positions(signal, threshold=strategy.threshold, long_only=strategy.long_only)
        for name, signal in one_day_forecasts.items()
    }
    held_by[BUY_AND_HOLD] = np.ones(len(next_log_returns))
    rows, curves = {}, {}
    for name, held in held_by.items():
        daily = strategy_returns(held, next_log_returns, strategy.cost_bps)
        rows[name] = performance(daily, held, next_log_returns)
        curves[name] = np.cumprod(1 + daily)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table, pd.DataFrame(curves)
