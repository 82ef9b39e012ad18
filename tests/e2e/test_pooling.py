"""``training.pooling=per_ticker`` as a user runs it: a model per ticker, trained, registered, used.

The pooled default (one model on every ticker) is what every other end-to-end test runs.
"""

from __future__ import annotations

import json

import mlflow
import pytest

from fincast_cli import run_cli

pytestmark = pytest.mark.e2e

TINY = [
    "backend=jax",
    "model=mlp",
    "model.builder.units=[4]",
    "task.lookback=10",
    "task.horizon=3",
    "training.epochs=1",
    "evaluation.test_days=60",
    "training.pooling=per_ticker",
    "data.tickers=[^GSPC,^IXIC]",
]


@pytest.fixture(scope="module")
def per_ticker_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("per_ticker")
    result = run_cli("fincast-train", *TINY, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def test_train_fits_registers_and_records_one_model_per_ticker(per_ticker_run):
    workdir, result = per_ticker_run
    for slug, ticker in (("GSPC", "^GSPC"), ("IXIC", "^IXIC")):
        (model,) = (workdir / "models" / f"fincast-returns-mlp-{slug}").glob("*.keras")
        card = json.loads(model.with_suffix(".json").read_text())
        assert card["tickers"] == [ticker] and card["pooling"] == "per_ticker"
        assert card["name"] == f"fincast-returns-mlp-{slug}"
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
    names = {model.name for model in client.search_registered_models()}
    assert names == {"fincast-returns-mlp-GSPC", "fincast-returns-mlp-IXIC"}
    assert result.stdout.count("Held-out scores") == 2


def test_forecast_uses_each_tickers_own_champion(per_ticker_run):
    workdir, _ = per_ticker_run
    result = run_cli("fincast-forecast", *TINY, "output=json", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    forecasts = {item["ticker"]: item for item in json.loads(result.stdout)["forecasts"]}
    assert set(forecasts) == {"^GSPC", "^IXIC"}
    for slug, ticker in (("GSPC", "^GSPC"), ("IXIC", "^IXIC")):
        assert forecasts[ticker]["model_uri"] == f"models:/fincast-returns-mlp-{slug}@champion"


def test_a_per_ticker_job_without_tickers_is_one_line(tmp_path):
    result = run_cli(
        "fincast-train", *TINY[:-1], "data=csv", "data.options.path=x.csv", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "fincast-train: error: training.pooling=per_ticker fits one model per ticker; name "
        "them, e.g. 'data.tickers=[^GSPC,^IXIC]'. Received: data.tickers=[]"
    )
