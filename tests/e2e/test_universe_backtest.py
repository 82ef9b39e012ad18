"""``fincast-backtest evaluation=walkforward`` over a sector: the cross-sectional scores."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fincast_cli import run_cli

pytestmark = pytest.mark.e2e

SECTOR = [
    "backend=jax",
    "data=stocknet",
    "data.tickers=sector:Conglomerates",  # AGFS CODI GMRE HRG IEP PICO REX SPLP
    "evaluation=walkforward",
    "evaluation.folds=2",
    "evaluation.step=60",
    # the default MCS runs too: the random walk's and the historical median's losses are
    # identical for some of these tickers (both forecast 0), scored as one
    "evaluation.plots=false",
    "model.builder.units=4",
    "training.epochs=1",
    "task.lookback=20",
]


@pytest.fixture(scope="module")
def sector_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("universe")
    result = run_cli("fincast-backtest", *SECTOR, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = workdir.glob("outputs/*/*/backtest")
    return workdir, folder, result


def test_prints_and_saves_the_universe_scores(sector_run):
    _, folder, result = sector_run
    universe = folder / "universe"
    for name in ("summary.json", "ic.csv", "equity.csv", "per_ticker.csv"):
        assert (universe / name).is_file(), name
    summary = json.loads((universe / "summary.json").read_text())
    assert summary["task"] == "returns" and summary["model"] == "lstm"
    assert summary["baseline"] == "naive" and summary["tickers"] == 7
    assert summary["portfolios"]["quantiles"] == 5
    assert summary["dm"]["tested"] == 7 and summary["dm"]["sentence"] in result.stdout
    per_ticker = pd.read_csv(universe / "per_ticker.csv", index_col="ticker")
    assert sorted(per_ticker.index) == ["AGFS", "CODI", "HRG", "IEP", "PICO", "REX", "SPLP"]
    assert set(per_ticker["sector"]) == {"Conglomerates"}
    equity = pd.read_csv(universe / "equity.csv", index_col="date")
    assert list(equity.columns) == ["q1", "q2", "q3", "q4", "q5", "long_short", "long_short_net"]
    assert len(equity) == 24  # 120 origins, rebalanced every 5 (the horizon)
    assert "Universe: 7 tickers, returns, 5-day horizon" in result.stdout


def test_gmre_is_left_out_with_its_reason(sector_run):
    _, folder, result = sector_run
    summary = json.loads((folder / "universe" / "summary.json").read_text())
    assert list(summary["left_out"]) == ["GMRE"]
    assert "fewer than min_train_windows=250" in summary["left_out"]["GMRE"]
    assert not (folder / "GMRE").exists()
    assert "GMRE: " in result.stdout.split("Left out for too little history")[1]
    assert "Left out 1 of 8 tickers" in result.stderr


def test_the_ic_is_scipys_correlation_of_the_saved_forecasts(sector_run):
    _, folder, _ = sector_run
    summed = {}
    for ticker in ("AGFS", "CODI", "HRG", "IEP", "PICO", "REX", "SPLP"):
        forecasts = pd.read_csv(folder / ticker / "forecasts.csv", parse_dates=["origin"])
        summed[ticker] = forecasts.groupby("origin")[["model", "actual"]].sum()
    model = pd.DataFrame({ticker: frame["model"] for ticker, frame in summed.items()})
    actual = pd.DataFrame({ticker: frame["actual"] for ticker, frame in summed.items()})
    expected = pd.DataFrame(
        {
            "ic": [stats.pearsonr(model.loc[day], actual.loc[day])[0] for day in model.index],
            "rank_ic": [stats.spearmanr(model.loc[day], actual.loc[day])[0] for day in model.index],
        },
        index=model.index,
    )
    ic = pd.read_csv(folder / "universe" / "ic.csv", index_col="date", parse_dates=["date"])
    assert len(ic) == len(expected) == 120
    np.testing.assert_allclose(ic["ic"], expected["ic"], atol=1e-9)
    np.testing.assert_allclose(ic["rank_ic"], expected["rank_ic"], atol=1e-9)
    summary = json.loads((folder / "universe" / "summary.json").read_text())
    assert summary["ic"]["mean"] == pytest.approx(expected["ic"].mean(), abs=1e-9)
    assert summary["rank_ic"]["mean"] == pytest.approx(expected["rank_ic"].mean(), abs=1e-9)


def test_logs_the_universe_to_mlflow(sector_run):
    workdir, folder, _ = sector_run
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("fincast")
    (run,) = client.search_runs([experiment.experiment_id])
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, "backtest/universe")}
    assert "backtest/universe/summary.json" in artifacts
    assert "backtest/universe/per_ticker.csv" in artifacts
    summary = json.loads((folder / "universe" / "summary.json").read_text())
    metrics = run.data.metrics
    assert metrics["universe_ic_mean"] == pytest.approx(summary["ic"]["mean"])
    assert metrics["universe_dm_bh_wins"] == summary["dm"]["bh"]["better"]
    assert "universe_long_short_net_annual" in metrics and "universe_rank_ic_mean" in metrics
    assert run.data.tags["left_out"] == "GMRE"
