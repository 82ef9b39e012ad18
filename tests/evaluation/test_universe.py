"""Cross-sectional scores of a walk-forward, on small hand-built backtests."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from fincast.evaluation.backtest_record import Backtest
from fincast.evaluation.losses import volatility_qlike
from fincast.evaluation.record import universe_metrics
from fincast.evaluation.report import compare
from fincast.evaluation.universe import (
    evaluate_universe,
    load_universe,
    render_universe,
    save_universe,
)
from fincast.specs import CrossSectionSpec

SPEC = CrossSectionSpec(quantiles=2, cost_bps=10.0, min_tickers=3)


def backtest(
    ticker: str,
    actual: np.ndarray,
    model: np.ndarray,
    *,
    task: str = "returns",
    dates: pd.DatetimeIndex | None = None,
    baselines: dict[str, np.ndarray] | None = None,
) -> Backtest:
    actual = np.asarray(actual, "float64").reshape(len(actual), -1)
    rows, horizon = actual.shape
    origins = dates if dates is not None else pd.bdate_range("2021-01-04", periods=rows)
    forecasts = {"model": np.asarray(model, "float64").reshape(rows, horizon)}
    forecasts.update(baselines or {"naive": np.zeros((rows, horizon))})
    return Backtest(
        task=task,
        ticker=ticker,
        horizon=horizon,
        origins=pd.DatetimeIndex(origins),
        target_start=pd.DatetimeIndex(origins),
        fold=np.zeros(rows, dtype=int),
        actual=actual,
        forecasts=forecasts,
        levels={name: None for name in forecasts},
        last_price=np.ones(rows),
        price_scale=np.ones(rows),
        folds=pd.DataFrame(),
    )


def random_panel(tickers: int = 7, rows: int = 40, horizon: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    panel = {}
    for index in range(tickers):
        actual = rng.normal(0.0, 0.01, (rows, horizon))
        model = 0.5 * actual + rng.normal(0.0, 0.01, (rows, horizon))
        panel[f"T{index}"] = backtest(f"T{index}", actual, model)
    return panel


def test_ic_and_rank_ic_are_scipys_correlations_on_each_date() -> None:
    panel = random_panel()
    # one ticker misses a date: that date's cross-section has one ticker fewer
    short = panel["T6"]
    keep = np.arange(len(short.origins)) != 5
    panel["T6"] = backtest(
        "T6", short.actual[keep], short.point("model")[keep], dates=short.origins[keep]
    )
    universe = evaluate_universe(panel, SPEC)
    assert len(universe.ic) == 40
    for date, row in universe.ic.iterrows():
        forecasts, realised = [], []
        for item in panel.values():
            if date in item.origins:
                at = item.origins.get_loc(date)
                forecasts.append(item.point("model")[at].sum())
                realised.append(item.actual[at].sum())
        assert row["tickers"] == len(forecasts) == (6 if date == short.origins[5] else 7)
        assert row["ic"] == pytest.approx(stats.pearsonr(forecasts, realised)[0], abs=1e-12)
        assert row["rank_ic"] == pytest.approx(stats.spearmanr(forecasts, realised)[0], abs=1e-12)
    summary = universe.summary["ic"]
    values = universe.ic["ic"]
    assert summary["mean"] == pytest.approx(values.mean())
    assert summary["std"] == pytest.approx(values.std(ddof=1))
    assert summary["t_stat"] == pytest.approx(values.mean() / values.std(ddof=1) * math.sqrt(40))
    every_other = values.iloc[::2]  # horizon 2: the non-overlapping origins
    assert summary["dates_non_overlapping"] == 20
    assert summary["t_stat_non_overlapping"] == pytest.approx(
        stats.ttest_1samp(every_other, 0.0).statistic
    )


def test_portfolio_equity_matches_a_hand_computation() -> None:
    """Four tickers, halves, one-day horizon: long the top two forecasts, short the bottom."""
    forecasts = {"A": [1, 4, 4], "B": [2, 2, 2], "C": [3, 3, 3], "D": [4, 1, 1]}
    simple = {
        "A": [0.01, 0.02, -0.01],
        "B": [0.00, -0.01, 0.03],
        "C": [0.02, 0.01, 0.00],
        "D": [-0.02, 0.03, 0.01],
    }
    panel = {
        ticker: backtest(ticker, np.log1p(simple[ticker]), forecasts[ticker])
        for ticker in forecasts
    }
    universe = evaluate_universe(panel, SPEC)
    r = pd.DataFrame(simple)
    # day 1: long C, D, short A, B (turnover 2, from cash); day 2: long A, C, short B, D
    # (A and D swap sides: turnover 2); day 3: the same book (turnover 0)
    gross = np.array(
        [
            (r.C[0] + r.D[0]) / 2 - (r.A[0] + r.B[0]) / 2,
            (r.A[1] + r.C[1]) / 2 - (r.B[1] + r.D[1]) / 2,
            (r.A[2] + r.C[2]) / 2 - (r.B[2] + r.D[2]) / 2,
        ]
    )
    net = gross - np.array([2.0, 2.0, 0.0]) * 10 / 10_000
    equity = universe.equity
    np.testing.assert_allclose(equity["long_short"], np.cumprod(1 + gross))
    np.testing.assert_allclose(equity["long_short_net"], np.cumprod(1 + net))
    bottom = [(r.A[0] + r.B[0]) / 2, (r.B[1] + r.D[1]) / 2, (r.B[2] + r.D[2]) / 2]
    np.testing.assert_allclose(equity["q1"], np.cumprod(1 + np.array(bottom)))
    book = universe.summary["portfolios"]["long_short"]
    assert book["mean_turnover"] == pytest.approx(4 / 3)
    assert book["net_annual_return"] == pytest.approx(np.prod(1 + net) ** (252 / 3) - 1)
    assert book["annual_return"] == pytest.approx(np.prod(1 + gross) ** (252 / 3) - 1)
    assert book["annual_volatility"] == pytest.approx(np.std(net, ddof=1) * math.sqrt(252))
    assert book["sharpe"] == pytest.approx(np.mean(net) / np.std(net, ddof=1) * math.sqrt(252))


def test_portfolios_hold_h_days_from_every_hth_origin_and_can_be_sector_neutral() -> None:
    rng = np.random.default_rng(4)
    tickers = ["A", "B", "C", "D"]
    logs = {ticker: rng.normal(0, 0.01, (4, 2)) for ticker in tickers}
    signal = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0}
    panel = {
        ticker: backtest(ticker, logs[ticker], np.full((4, 2), signal[ticker]))
        for ticker in tickers
    }
    sectors = {"A": "x", "D": "x", "B": "y", "C": "y"}
    neutral = CrossSectionSpec(quantiles=2, cost_bps=0.0, sector_neutral=True, min_tickers=3)
    universe = evaluate_universe(panel, neutral, sectors=sectors)
    dates = panel["A"].origins
    assert list(universe.equity.index) == [dates[0], dates[2]]  # every 2nd origin
    held = {ticker: np.expm1(logs[ticker].sum(axis=1)) for ticker in tickers}
    # within x: long D, short A; within y: long C, short B; the two sectors weigh half each
    gross = [
        0.5 * (held["D"][row] - held["A"][row]) + 0.5 * (held["C"][row] - held["B"][row])
        for row in (0, 2)
    ]
    np.testing.assert_allclose(universe.equity["long_short"], np.cumprod(1 + np.array(gross)))
    assert universe.summary["portfolios"]["sector_neutral"] is True
    plain = evaluate_universe(panel, SPEC, sectors=sectors)
    gross = [
        (held["C"][row] + held["D"][row] - held["A"][row] - held["B"][row]) / 2 for row in (0, 2)
    ]
    np.testing.assert_allclose(plain.equity["long_short"], np.cumprod(1 + np.array(gross)))


def test_bh_and_holm_counts_match_statsmodels() -> None:
    rng = np.random.default_rng(8)
    panel = {}
    for index, skill in enumerate(np.linspace(0.0, 0.9, 12)):
        actual = rng.normal(0.0, 0.01, (150, 1))
        model = skill * actual + rng.normal(0.0, 0.006, (150, 1))
        if index % 4 == 3:  # some worse than the random walk
            model = actual * -1.0
        panel[f"T{index}"] = backtest(f"T{index}", actual, model)
    spec = CrossSectionSpec(alpha=0.05)
    universe = evaluate_universe(panel, spec)
    table = universe.per_ticker
    for ticker, item in panel.items():
        assert table.loc[ticker, "dm_p"] == pytest.approx(compare(item, "naive")["all"].p_value)
    better = table["loss_model"] < table["loss_baseline"]
    for method, column, key in (("fdr_bh", "p_bh", "bh"), ("holm", "p_holm", "holm")):
        rejected, adjusted, *_ = multipletests(table["dm_p"], alpha=0.05, method=method)
        np.testing.assert_allclose(table[column], adjusted)
        assert universe.summary["dm"][key]["better"] == int((rejected & better).sum())
        assert universe.summary["dm"][key]["worse"] == int((rejected & ~better).sum())
    wins = universe.summary["dm"]["bh"]["better"]
    assert 0 < universe.summary["dm"]["holm"]["better"] < wins < 12  # Holm is stricter
    assert universe.summary["dm"]["bh"]["worse"] >= 3  # the sign-flipped forecasts
    assert universe.summary["dm"]["sentence"].startswith(
        f"The model beats naive on {wins} of 12 tickers after FDR control (BH, 5%)"
    )
    rejected = multipletests(table["dm_p"], alpha=0.05, method="fdr_bh")[0]
    expected = np.where(rejected, np.where(better, "better", "worse"), "no significant difference")
    assert list(table["verdict"]) == list(expected)
    metrics = universe_metrics(universe)
    assert metrics["universe_dm_bh_wins"] == wins and metrics["universe_dm_tested"] == 12


def test_the_volatility_task_gets_the_per_ticker_dm_summary_with_qlike(tmp_path) -> None:
    rng = np.random.default_rng(2)
    panel = {}
    for ticker in ("A", "B", "C"):
        actual = rng.uniform(0.1, 0.3, (60, 3))
        baselines = {"naive": actual * rng.uniform(0.7, 1.3, (60, 3)), "har": np.full((60, 3), 0.2)}
        model = actual * rng.uniform(0.9, 1.1, (60, 3))
        panel[ticker] = backtest(ticker, actual, model, task="volatility", baselines=baselines)
    universe = evaluate_universe(panel, CrossSectionSpec(), left_out={"Z": "0 training windows"})
    summary = universe.summary
    assert summary["baseline"] == "har" and summary["dm"]["loss"] == "QLIKE"
    assert summary["ic"] is summary["rank_ic"] is summary["portfolios"] is summary["signal"] is None
    assert any("not returns" in note for note in summary["notes"])
    for ticker, item in panel.items():
        row = universe.per_ticker.loc[ticker]
        assert row["loss_model"] == pytest.approx(
            volatility_qlike(item.actual, item.point("model")).mean()
        )
        assert row["loss_baseline"] == pytest.approx(
            volatility_qlike(item.actual, item.point("har")).mean()
        )
    text = render_universe(universe)
    assert "No IC or portfolios" in text and "Z: 0 training windows" in text
    save_universe(universe, tmp_path)
    loaded = load_universe(tmp_path)
    assert loaded.ic.empty and loaded.equity.empty and len(loaded.per_ticker) == 3
    assert loaded.summary["left_out"] == {"Z": "0 training windows"}


def test_without_the_reference_the_baseline_is_the_lowest_loss_one() -> None:
    rng = np.random.default_rng(3)
    panel = {}
    for ticker in ("A", "B", "C"):
        actual = rng.normal(0.0, 0.01, (30, 1))
        close = actual + rng.normal(0.0, 0.001, (30, 1))
        baselines = {"drift": np.zeros((30, 1)), "ar5": close}
        panel[ticker] = backtest(ticker, actual, np.zeros((30, 1)), baselines=baselines)
    universe = evaluate_universe(panel, SPEC)
    assert universe.summary["baseline"] == universe.summary["dm"]["baseline"] == "ar5"


def test_saved_scores_load_back_unchanged(tmp_path) -> None:
    panel = random_panel(tickers=6, rows=30, horizon=3)
    universe = evaluate_universe(
        panel, CrossSectionSpec(quantiles=3), model="lstm", left_out={"Q": "short"}
    )
    paths = save_universe(universe, tmp_path / "universe")
    assert [path.name for path in paths] == [
        "summary.json",
        "ic.csv",
        "equity.csv",
        "per_ticker.csv",
    ]
    summary, ic, equity, per_ticker = load_universe(tmp_path / "universe")
    assert summary == json.loads(json.dumps(universe.summary))
    assert (
        summary["model"] == "lstm"
        and summary["tickers"] == 6
        and summary["left_out"] == {"Q": "short"}
    )
    assert list(ic.columns) == ["ic", "rank_ic", "tickers"]
    assert list(equity.columns) == ["q1", "q2", "q3", "long_short", "long_short_net"]
    assert list(per_ticker.columns) == [
        "sector", "windows", "loss_model", "loss_baseline", "loss_ratio",
        "dm_p", "p_bh", "p_holm", "verdict",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(ic, universe.ic, check_freq=False, check_dtype=False)
    pd.testing.assert_frame_equal(equity, universe.equity, check_freq=False)
    pd.testing.assert_frame_equal(per_ticker, universe.per_ticker, check_dtype=False)


def test_too_few_tickers_for_an_ic_is_said_not_hidden() -> None:
    panel = random_panel(tickers=2, rows=20, horizon=1)
    universe = evaluate_universe(panel, CrossSectionSpec(quantiles=3))
    summary = universe.summary
    assert summary["ic"] is None and summary["portfolios"] is None
    assert any("fewer than 3 tickers" in note for note in summary["notes"])
    assert summary["dm"]["tested"] == 2
