"""Every command applies the same data checks: ``data.on_invalid`` and friends, as a user runs them.

A CSV with one duplicate day stops every command under the default ``raise`` and is
repaired, the same way, by ``fincast-train``, ``fincast-backtest`` (walk-forward and
hold-out) and ``fincast-forecast`` under ``data.on_invalid=repair``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fincast.data.sources import load_sample
from fincast_cli import run_cli

pytestmark = pytest.mark.e2e

TINY = [
    "backend=jax",
    "model=mlp",
    "model.builder.units=[4]",
    "task.lookback=10",
    "task.horizon=3",
    "training.epochs=1",
    "tracking=none",
]


@pytest.fixture(scope="module")
def duplicated_csv(tmp_path_factory) -> tuple[Path, str]:
    """The last 800 S&P 500 days as a user's CSV, one day written twice."""
    folder = tmp_path_factory.mktemp("policy")
    bars = load_sample(["^GSPC"])["^GSPC"].iloc[-800:]
    rows = bars.rename_axis("date").reset_index()
    doubled = rows.iloc[[400]]
    table = pd.concat([rows.iloc[:401], doubled, rows.iloc[401:]])
    path = folder / "spx.csv"
    table.to_csv(path, index=False)
    return path, str(doubled["date"].iloc[0].date())


def data(path: Path, policy: str) -> list[str]:
    return [
        "data=csv",
        f"data.options.path={path}",
        "data.tickers=[SPX]",
        f"data.on_invalid={policy}",
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["fincast-train", "evaluation.test_days=100"],
        ["fincast-backtest", "evaluation=walkforward", "evaluation.folds=2", "evaluation.step=60"],
    ],
    ids=["train", "backtest"],
)
def test_a_duplicate_day_stops_every_command_under_raise(duplicated_csv, tmp_path, command):
    path, day = duplicated_csv
    result = run_cli(command[0], *TINY, *command[1:], *data(path, "raise"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{command[0]}: error: ") and "duplicate" in last and day in last
    assert "Traceback" not in result.stderr


def test_train_backtest_and_forecast_repair_it_alike(duplicated_csv, tmp_path):
    path, _ = duplicated_csv
    repair = data(path, "repair")
    trained = run_cli("fincast-train", *TINY, "evaluation.test_days=100", *repair, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    backtest = run_cli(
        "fincast-backtest",
        *TINY,
        "evaluation=walkforward",
        "evaluation.folds=2",
        "evaluation.step=60",
        "evaluation.baselines=[naive]",
        *repair,
        cwd=tmp_path,
    )
    assert backtest.returncode == 0, backtest.stderr[-3000:]
    assert "SPX: returns (log returns), 3-day horizon, 2 walk-forward folds" in backtest.stdout
    (model,) = (tmp_path / "models" / "fincast-returns-mlp").glob("*.keras")
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["on_invalid"] == "repair" and card["pooling"] == "pooled"
    forecast = run_cli(
        "fincast-forecast", *TINY, f"model_uri={model}", "output=json", *repair, cwd=tmp_path
    )
    assert forecast.returncode == 0, forecast.stderr[-3000:]
    assert json.loads(forecast.stdout)["ticker"] == "SPX"
    holdout = run_cli("fincast-backtest", *TINY, f"model_uri={model}", *repair, cwd=tmp_path)
    assert holdout.returncode == 0, holdout.stderr[-3000:]
    assert "SPX: " in holdout.stdout and "unseen windows" in holdout.stdout
    refused = run_cli(
        "fincast-forecast", *TINY, f"model_uri={model}", *data(path, "raise"), cwd=tmp_path
    )
    assert refused.returncode == 2 and "duplicate" in refused.stderr.strip().splitlines()[-1]
