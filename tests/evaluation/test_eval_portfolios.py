"""Quantile portfolios against numbers worked out by hand on 10 tickers x 4 dates."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from fincast.evaluation import portfolios as portfolios_module
from fincast.evaluation.portfolios import (
    assign_quantiles,
    quantile_portfolios,
    summarise_portfolios,
)

TICKERS = list("ABCDEFGHIJ")
DATES = pd.bdate_range("2022-03-01", periods=4)
NAN = np.nan
# Date 1: forecasts 1..10, so the quintiles are AB, CD, EF, GH, IJ.
# Date 2: ranks A1 C2 | B3 G4 | D5 E6 | F7 J8 | H9 I10: long HI, short AC.
# Date 3: date 2 negated: long AC, short HI (the whole book turns over).
# Date 4: four forecasts only, fewer than five tickers: skipped, the book goes flat.
FORECASTS = pd.DataFrame(
    [
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        [1, 3, 2, 5, 6, 7, 4, 9, 10, 8],
        [-1, -3, -2, -5, -6, -7, -4, -9, -10, -8],
        [1, 2, 3, 4, NAN, NAN, NAN, NAN, NAN, NAN],
    ],
    index=DATES,
    columns=TICKERS,
    dtype="float64",
)
REALISED = pd.DataFrame(
    [
        [-0.02, -0.04, 0.00, 0.00, 0.01, 0.01, 0.02, 0.02, 0.03, 0.05],
        [0.01, 0.00, 0.03, 0.00, 0.00, 0.00, 0.00, -0.01, -0.03, 0.04],
        [0.02, 0.00, 0.04, 0.00, 0.00, 0.00, 0.00, -0.01, 0.01, 0.00],
        [0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01],
    ],
    index=DATES,
    columns=TICKERS,
)
# By hand: long-short = mean(top) - mean(bottom).
#   date 1: (0.03 + 0.05) / 2 - (-0.02 - 0.04) / 2 = 0.04 + 0.03 = 0.07
#   date 2: (-0.01 - 0.03) / 2 - (0.01 + 0.03) / 2 = -0.02 - 0.02 = -0.04
#   date 3: (0.02 + 0.04) / 2 - (-0.01 + 0.01) / 2 = 0.03
# Turnover (weights +-0.5): 2 entering; J, B out and H, C in: 4 x 0.5 = 2;
#   A, C, H, I each flip by 1: 4; flat again: 2.  Costs at 10 bp: turnover x 0.001.
LONG_SHORT = [0.07, -0.04, 0.03, NAN]
TURNOVER = [2.0, 2.0, 4.0, 2.0]
NET = [0.068, -0.042, 0.026, -0.002]


def test_doctests_pass() -> None:
    result = doctest.testmod(portfolios_module, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_quintiles_on_ten_tickers_hold_two_each() -> None:
    buckets = assign_quantiles(FORECASTS)
    assert buckets.iloc[0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert buckets.iloc[1].tolist() == [1, 2, 1, 3, 3, 4, 2, 5, 5, 4]
    assert buckets.iloc[3].isna().all()


def test_long_short_turnover_costs_and_equity_match_the_hand_computation() -> None:
    result = quantile_portfolios(FORECASTS, REALISED, cost_bps=10.0)
    np.testing.assert_allclose(result.long_short, LONG_SHORT, atol=1e-12)
    np.testing.assert_allclose(result.turnover, TURNOVER, atol=1e-12)
    np.testing.assert_allclose(result.costs, np.array(TURNOVER) * 0.001, atol=1e-12)
    np.testing.assert_allclose(result.net, NET, atol=1e-12)
    expected_equity = np.cumprod([1.068, 0.958, 1.026, 0.998])
    np.testing.assert_allclose(result.equity, expected_equity, atol=1e-12)
    assert result.skipped.to_dict() == {DATES[3]: "fewer than 5 tickers (4)"}
    assert result.excluded[["group", "tickers"]].values.tolist() == [["all", 4]]
    assert result.weights.loc[DATES[1]].to_dict() == {
        **dict.fromkeys(TICKERS, 0.0),
        "H": 0.5,
        "I": 0.5,
        "A": -0.5,
        "C": -0.5,
    }


def test_bucket_returns_match_the_hand_computation() -> None:
    result = quantile_portfolios(FORECASTS, REALISED)
    # Date 1: AB -0.03, CD 0.0, EF 0.01, GH 0.02, IJ 0.04.
    np.testing.assert_allclose(result.bucket_returns.iloc[0], [-0.03, 0.0, 0.01, 0.02, 0.04])
    # Date 3 (negated date 2): AC 0.03, BG 0.0, DE 0.0, FJ 0.0, HI 0.0 (buckets ascend: HI first).
    np.testing.assert_allclose(result.bucket_returns.iloc[2], [0.0, 0.0, 0.0, 0.0, 0.03])
    assert result.bucket_returns.iloc[3].isna().all()
    assert list(result.bucket_returns.columns) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(result.net, np.nan_to_num(LONG_SHORT), atol=1e-12)


def test_summary_of_the_hand_example() -> None:
    result = quantile_portfolios(FORECASTS, REALISED, cost_bps=10.0)
    summary = summarise_portfolios(result)
    assert summary["mean_long_short"] == pytest.approx((0.07 - 0.04 + 0.03) / 3)
    assert summary["mean_net"] == pytest.approx(np.mean(NET))
    assert summary["mean_turnover"] == pytest.approx(2.5)
    assert summary["final_equity"] == pytest.approx(1.068 * 0.958 * 1.026 * 0.998)
    assert summary["max_drawdown"] == pytest.approx(0.958 - 1.0)  # the fall on date 2
    assert summary["skipped"] == 1


def test_ties_share_a_bucket_and_all_tied_dates_are_skipped() -> None:
    forecasts = pd.DataFrame([[0.1, 0.1, 0.1, 0.2, 0.3, 0.4], [0.5] * 6], columns=list("ABCDEF"))
    realised = pd.DataFrame(0.01, index=forecasts.index, columns=forecasts.columns)
    buckets = assign_quantiles(forecasts, 3)
    assert buckets.iloc[0].tolist() == [1, 1, 1, 2, 3, 3]
    result = quantile_portfolios(forecasts, realised, quantiles=3)
    assert result.skipped.to_dict() == {1: "tied forecasts leave the top or bottom bucket empty"}
    assert result.turnover.tolist() == pytest.approx([2.0, 2.0])


def test_sector_neutral_buckets_within_each_sector_and_weights_sectors_equally() -> None:
    # Sector X holds A-D (halves: AB | CD), sector Y holds E-J (EFG | HIJ), Z only K.
    forecasts = FORECASTS.iloc[:1].assign(K=11.0)
    realised = REALISED.iloc[:1].assign(K=0.5)
    sectors = pd.Series(list("XXXXYYYYYYZ"), index=[*TICKERS, "K"])
    result = quantile_portfolios(forecasts, realised, quantiles=2, sectors=sectors)
    weights = result.weights.iloc[0]
    assert weights[list("ABCD")].tolist() == [-0.25, -0.25, 0.25, 0.25]
    np.testing.assert_allclose(weights[list("EFGHIJ")], [-1 / 6] * 3 + [1 / 6] * 3)
    assert weights["K"] == 0.0
    assert weights.groupby(sectors).sum().abs().max() < 1e-12
    # X: (0 + 0) / 2 - (-0.02 - 0.04) / 2 = 0.03;  Y: (0.02 + 0.03 + 0.05) / 3 - 0.04 / 3 = 0.02.
    assert result.long_short.iloc[0] == pytest.approx((0.03 + 0.02) / 2)
    assert result.excluded[["group", "tickers", "reason"]].values.tolist() == [
        ["Z", 1, "fewer than 2 tickers (1)"]
    ]
    assert result.skipped.empty


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"No sector for tickers \['J'\]"):
        quantile_portfolios(FORECASTS, REALISED, sectors=pd.Series("X", index=TICKERS[:-1]))
    with pytest.raises(ValueError, match="quantiles=1"):
        quantile_portfolios(FORECASTS, REALISED, quantiles=1)
    with pytest.raises(ValueError, match="cost_bps=-1"):
        quantile_portfolios(FORECASTS, REALISED, cost_bps=-1.0)
