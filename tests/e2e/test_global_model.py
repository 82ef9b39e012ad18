"""A global model of one sector with covariates and embeddings, end to end: a 2-fold
walk-forward that refits it per fold, training, and one batched forecast of the universe."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from fincast_cli import run_cli

pytestmark = pytest.mark.e2e

GLOBAL = [
    "backend=jax",
    "data=stocknet",
    "data.tickers=sector:Utilities",
    "features.covariates=[market_return,sector_return,future_day_of_week,future_month_end,sessions_to_holiday]",
    "features.embeddings=[ticker,sector]",
    "features.normalise=ticker",
    "model.builder.units=8",
    "model.builder.reversible_norm=true",
    "training.epochs=1",
    "task.lookback=20",
]
COLUMNS = 3 + 2 + 5 + 5 + 1 + 2  # features, past, per-step future, holiday, ticker and sector ids


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("global")


def test_walk_forward_refits_the_global_model_per_fold(workdir):
    result = run_cli(
        "fincast-backtest",
        *GLOBAL,
        "evaluation=walkforward",
        "evaluation.folds=2",
        "evaluation.step=60",
        "evaluation.plots=false",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = workdir.glob("outputs/*/*/backtest")
    summary = json.loads((folder / "universe" / "summary.json").read_text())
    tickers = [path.name for path in folder.iterdir() if (path / "report.json").is_file()]
    assert summary["tickers"] == len(tickers) >= 5
    folds = pd.DataFrame(
        json.loads((folder / tickers[0] / "report.json").read_text())["fold_table"]
    )
    assert len(folds) == 2 and folds["refit"].all()  # the global model is refitted each fold
    # every ticker is tested on the same two folds
    starts = {
        ticker: tuple(
            pd.DataFrame(json.loads((folder / ticker / "report.json").read_text())["fold_table"])[
                "test_first_target"
            ]
        )
        for ticker in tickers
    }
    assert len(set(starts.values())) == 1


def test_training_records_the_recipe_and_one_call_forecasts_the_universe(workdir):
    uri = f"sqlite:///{workdir}/mlflow.db"
    trained = run_cli(
        "fincast-train", *GLOBAL, f"tracking.uri={uri}", "paths.models=models", cwd=workdir
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    (card_file,) = workdir.glob("models/*/*.json")
    card = json.loads(card_file.read_text())
    assert len(card["input_columns"]) == COLUMNS
    assert card["covariates"][0] == "market_return" and card["embeddings"] == ["ticker", "sector"]
    assert card["vocabularies"]["ticker"] == sorted(card["covariate_universe"])
    assert card["normalise"] == "ticker" and card["identities"] == ["ticker", "sector"]
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    run_id = client.get_model_version(card["name"], "1").run_id  # the training run
    logged = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="forecast/next_days.csv",
            tracking_uri=uri,
            dst_path=str(workdir / "logged"),
        )
    )

    forecast = run_cli(
        "fincast-forecast",
        *GLOBAL[:3],
        "data.tickers=all",
        "output=json",
        f"tracking.uri={uri}",
        cwd=workdir,
    )
    assert forecast.returncode == 0, forecast.stderr[-3000:]
    payload = json.loads(forecast.stdout.strip().splitlines()[-1])
    forecasts = {entry["ticker"]: entry for entry in payload["forecasts"]}
    assert len(forecasts) == 88  # the whole panel; the model's universe rebuilt its covariates
    assert all(len(entry["forecast"]) == 5 for entry in forecasts.values())
    for ticker in card["tickers"]:  # the universe's own forecasts equal training's
        expected = logged.loc[logged["ticker"] == ticker, "log_return"].to_numpy()
        values = [step["value"] for step in forecasts[ticker]["forecast"]]
        assert values == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_the_hold_out_score_of_one_ticker_rebuilds_the_covariates_from_its_universe(workdir):
    uri = f"sqlite:///{workdir}/mlflow.db"
    (card_file,) = workdir.glob("models/*/*.json")
    ticker = json.loads(card_file.read_text())["tickers"][0]
    result = run_cli(
        "fincast-backtest",
        *GLOBAL[:3],
        f"data.tickers=[{ticker}]",
        f"tracking.uri={uri}",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{ticker}: " in result.stdout and "unseen windows" in result.stdout


def test_mlflow_pyfunc_rebuilds_the_covariates_from_the_bars_it_is_sent(workdir):
    """The pyfunc flavour serves the global model from bars of its whole universe, as the
    logged example holds them; a request without some of them is refused by name."""
    from mlflow.exceptions import MlflowException

    uri = f"sqlite:///{workdir}/mlflow.db"
    (card_file,) = workdir.glob("models/*/*.json")
    card = json.loads(card_file.read_text())
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    source = client.get_model_version_download_uri(card["name"], "1")
    folder = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(workdir / "m"))
    example = json.loads((Path(folder) / "serving_input_example.json").read_text())
    bars = pd.DataFrame(**example["dataframe_split"])
    model = mlflow.pyfunc.load_model(folder)
    served = model.predict(bars)
    assert set(served["ticker"]) == set(card["covariate_universe"])
    logged = pd.read_csv(workdir / "logged" / "next_days.csv")
    for ticker in card["tickers"]:
        values = served.loc[served["ticker"] == ticker, "value"].to_numpy()
        expected = logged.loc[logged["ticker"] == ticker, "log_return"].to_numpy()
        assert values == pytest.approx(expected, rel=1e-4, abs=1e-7)
    dropped = card["covariate_universe"][-1]
    with pytest.raises(MlflowException, match=f"bars of {dropped} are missing"):
        model.predict(bars[bars["ticker"] != dropped])
