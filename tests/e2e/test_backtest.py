"""``fincast-backtest evaluation=walkforward`` as a user runs it, in a fresh directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from fincast_cli import run_cli

pytestmark = pytest.mark.e2e

TINY = [
    "backend=jax",
    "model.builder.units=4",
    "task.lookback=10",
    "task.horizon=3",
    "training.epochs=1",
    "evaluation.folds=2",
    "evaluation.step=60",
]


def table_rows(stdout: str, header: str) -> dict[str, list[str]]:
    """The rows of the table printed under the line starting with ``header``."""
    lines = stdout.split(header, 1)[1].splitlines()[1:]
    columns = lines[0].split()
    rows = {}
    for line in lines[2:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = dict(zip(columns, cells[1:], strict=True))
    return rows


def run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("fincast-backtest", *overrides, cwd=cwd)


@pytest.fixture(scope="module")
def returns_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("returns")
    result = run("evaluation=walkforward", *TINY, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def test_prints_scores_with_dm_p_values_and_verdicts(returns_run):
    _, result = returns_run
    scores = table_rows(result.stdout, "Scores (")
    assert list(scores) == [
        "model",
        "naive",
        "historical_mean",
        "drift",
        "ar5",
        "historical_quantiles",
    ]
    assert {"mse", "price_mase", "price_smape", "hit_p", "dm_p_h1", "dm_p_h3", "dm_p_all"} <= set(
        scores["naive"]
    )
    assert scores["model"]["dm_p_all"] == "-" and scores["naive"]["dm_p_all"] != "-"
    verdicts = [line for line in result.stdout.splitlines() if line.startswith("model vs ")]
    assert len(verdicts) == 5
    for line in verdicts:
        p_value = float(scores[line.split(":")[0].split()[-1]]["dm_p_all"])
        verdict = line.split(": ", 1)[1]
        assert verdict.startswith("better than") <= (p_value < 0.05)


def test_prints_the_trading_table_and_fold_progress(returns_run):
    _, result = returns_run
    trading = table_rows(result.stdout, "Trading (")
    assert "buy_and_hold" in trading and {"sharpe", "sortino", "max_drawdown", "turnover"} <= set(
        trading["model"]
    )
    progress = [line for line in result.stderr.splitlines() if " fold " in line]
    assert [line.split()[2] for line in progress] == ["1/2:", "2/2:"]
    assert all("| test " in line and "loss model" in line for line in progress)


def test_saves_tables_forecasts_and_plots(returns_run):
    workdir, _ = returns_run
    (folder,) = workdir.glob("outputs/*/*/backtest/GSPC")
    for name in ("scores.csv", "trading.csv", "folds.csv", "forecasts.csv", "report.json"):
        assert (folder / name).is_file(), name
    for name in ("forecast_vs_actual.png", "calibration.png", "equity.png"):
        assert (folder / name).stat().st_size > 1000, name
    report = json.loads((folder / "report.json").read_text())
    assert report["task"] == "returns" and report["folds"] == 2 and report["windows"] == 120
    assert len(pd.read_csv(folder / "folds.csv")) == 2


def test_logs_the_backtest_to_mlflow(returns_run):
    workdir, _ = returns_run
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("fincast")
    (run_info,) = client.search_runs([experiment.experiment_id])
    assert run_info.info.status == "FINISHED"
    metrics, tags = run_info.data.metrics, run_info.data.tags
    assert {"wf_model_mse", "wf_naive_dm_p_all", "wf_trading_buy_and_hold_sharpe"} <= set(metrics)
    assert tags["fincast_command"] == "backtest" and tags["backend"] == "jax"
    assert tags["dm_test"] == "hac" and "Newey-West" in tags["dm_test_name"]
    artifacts = {item.path for item in client.list_artifacts(run_info.info.run_id, "backtest/GSPC")}
    assert {"backtest/GSPC/scores.csv", "backtest/GSPC/equity.png"} <= artifacts


def test_volatility_experiment_in_two_processes(tmp_path):
    result = run(
        "experiment=sp500_volatility",
        *TINY,
        "evaluation.n_jobs=2",
        "tracking=none",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = table_rows(result.stdout, "Scores (")
    assert list(scores) == ["model", "naive", "ewma", "garch", "har", "log_har", "har_rolling"]
    assert {"qlike", "mse_var", "dm_p_all", "loss_vs_har", "mcs_p"} <= set(scores["garch"])
    assert "Trading (" not in result.stdout
    assert len([line for line in result.stderr.splitlines() if " fold " in line]) == 2
    assert not (tmp_path / "mlflow.db").exists()


def test_an_embargo_below_the_horizon_is_refused(tmp_path):
    result = run("evaluation=walkforward", *TINY, "evaluation.embargo=1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "fincast-backtest: error: evaluation.embargo must be at least the horizon (3). "
        "Received: evaluation.embargo=1"
    )
