"""Trading view: positions, costs and performance measures, by hand on small cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fincast.evaluation.trading import (
    BUY_AND_HOLD,
    Strategy,
    max_drawdown,
    performance,
    positions,
    strategy_returns,
    trade,
)

LOG_RETURNS = np.log([1.02, 0.99, 1.01, 0.97, 1.03])


def test_positions_threshold_and_long_only() -> None:
    signal = np.array([0.01, -0.01, 0.0001, -0.0001, 0.0])
    assert positions(signal).tolist() == [1, -1, 1, -1, 0]
    assert positions(signal, threshold=0.001).tolist() == [1, -1, 0, 0, 0]
    assert positions(signal, long_only=True).tolist() == [1, 0, 1, 0, 0]


def test_costs_are_charged_on_every_change_of_position() -> None:
    held = np.array([1.0, 1.0, -1.0, 0.0, 1.0])
    net = strategy_returns(held, LOG_RETURNS, cost_bps=10)
    gross = held * (np.exp(LOG_RETURNS) - 1)
    traded = np.array([1, 0, 2, 1, 1])
    np.testing.assert_allclose(net, gross - traded * 0.001)


def test_performance_hand_case() -> None:
    daily = np.array([0.01, -0.02, 0.03, 0.0])
    held = np.array([1.0, 1.0, -1.0, 0.0])
    realised = np.array([0.01, -0.02, -0.03, 0.01])
    result = performance(daily, held, realised)
    growth = 1.01 * 0.98 * 1.03 * 1.0
    assert result["annual_return"] == pytest.approx(growth ** (252 / 4) - 1)
    assert result["annual_volatility"] == pytest.approx(np.std(daily, ddof=1) * math.sqrt(252))
    assert result["sharpe"] == pytest.approx(daily.mean() / np.std(daily, ddof=1) * math.sqrt(252))
    downside = math.sqrt(0.02**2 / 4)
    assert result["sortino"] == pytest.approx(daily.mean() / downside * math.sqrt(252))
    assert result["max_drawdown"] == pytest.approx(-0.02)
    assert result["turnover"] == pytest.approx((1 + 0 + 2 + 1) / 4 * 252)
    # in the market on 3 days: right on day 1, wrong on day 2, right on day 3 (short a fall)
    assert result["hit_rate"] == pytest.approx(2 / 3)
    assert result["days_in_market"] == pytest.approx(0.75)


def test_max_drawdown_hand_cases() -> None:
    assert max_drawdown(np.array([0.1, 0.1])) == 0.0
    # 1 -> 1.2 -> 0.6 -> 0.9: worst is 0.6 / 1.2 - 1
    assert max_drawdown(np.array([0.2, -0.5, 0.5])) == pytest.approx(-0.5)
    assert max_drawdown(np.array([-0.1, -0.1])) == pytest.approx(0.9 * 0.9 - 1)


def test_trade_includes_buy_and_hold_and_a_perfect_forecast_beats_it() -> None:
    rng = np.random.default_rng(0)
    realised = rng.normal(0.0003, 0.01, 500)
    table, curves = trade(
        {"oracle": realised, "flat": np.zeros(500)}, realised, Strategy(cost_bps=1.0)
    )
    assert list(table.index) == ["oracle", "flat", BUY_AND_HOLD]
    assert table.loc["oracle", "hit_rate"] == 1.0
    assert table.loc["oracle", "sharpe"] > table.loc[BUY_AND_HOLD, "sharpe"]
    assert table.loc["flat", "annual_return"] == 0.0 and table.loc["flat", "turnover"] == 0.0
    expected_hold = np.prod(np.exp(realised)) * (1 - 1e-4)
    assert curves[BUY_AND_HOLD].iloc[-1] == pytest.approx(expected_hold)
    assert table.loc[BUY_AND_HOLD, "turnover"] == pytest.approx(252 / 500)


def test_higher_costs_never_help() -> None:
    realised = np.random.default_rng(1).normal(0, 0.01, 300)
    signal = np.random.default_rng(2).normal(0, 0.01, 300)
    cheap, _ = trade({"m": signal}, realised, Strategy(cost_bps=0.0))
    dear, _ = trade({"m": signal}, realised, Strategy(cost_bps=20.0))
    assert dear.loc["m", "annual_return"] < cheap.loc["m", "annual_return"]
