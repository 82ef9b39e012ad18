"""The Streamlit dashboard, run in-process by AppTest over real models and data."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

if TYPE_CHECKING:
    from fincast.serving.forecast import Forecast

HOME = Path(__file__).resolve().parents[2] / "app" / "Home.py"
TICKERS = ["^GSPC", "^IXIC"]
TIMEOUT = 120


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model on both sample tickers, saved as .keras with its card beside it."""
    import fincast.models.builders
    from fincast.training.pipeline import TrainingJob, run_training

    output = tmp_path_factory.mktemp("models")
    job = TrainingJob(
        tickers=TICKERS,
        build_model=functools.partial(fincast.models.builders.build_mlp, units=[8]),
        model_family="mlp",
        lookback=10,
        horizon=3,
        epochs=1,
        test_days=50,
        output_dir=str(output),
        verbose=0,
    )
    outcome = run_training(job)
    assert outcome.model_path.suffix == ".keras"
    assert outcome.model_path.with_suffix(".json").is_file()
    return outcome.model_path


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty local tracking store, so nothing is written under the checkout."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("FINCAST_TRACKING_URI", uri)
    monkeypatch.delenv("FINCAST_MODEL_URI", raising=False)
    return uri


@pytest.fixture
def served(tracking: str, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app pointed at the trained model file."""
    monkeypatch.setenv("FINCAST_MODEL_URI", str(model_path))
    return model_path


def run_app() -> AppTest:
    app = AppTest.from_file(str(HOME), default_timeout=TIMEOUT).run()
    assert not app.exception, [element.value for element in app.exception]
    return app


def expected_forecast(path: Path, ticker: str) -> Forecast:
    """What the package itself forecasts for ``ticker`` with the saved model."""
    from fincast.data.loading import load_bars
    from fincast.serving.forecast import forecast_ticker, load_forecaster

    forecaster = load_forecaster(str(path))
    bars = load_bars(forecaster.card["data_source"], [ticker])
    return forecast_ticker(forecaster, bars[ticker], ticker)


def forecast_table(app: AppTest) -> pd.DataFrame:
    tables = [table.value for table in app.dataframe if "price" in table.value.columns]
    assert len(tables) == 1
    return tables[0]


def test_no_model_shows_how_to_train_one(tracking: str) -> None:
    app = run_app()

    messages = " ".join(info.value for info in app.info)
    assert "fincast-train" in messages or "make run" in messages
    assert not app.error
    assert not app.get("plotly_chart")
    assert app.title[0].value == "fincast"


def test_forecast_matches_the_package(served: Path) -> None:
    app = run_app()

    assert not app.error and not app.info
    assert app.sidebar.text_input[0].value == str(served)
    assert app.selectbox[0].options == TICKERS
    assert len(app.get("plotly_chart")) == 1
    assert len(app.get("download_button")) == 1
    expected = expected_forecast(served, "^GSPC")
    table = forecast_table(app)
    np.testing.assert_allclose(table["price"].to_numpy(), expected.prices, rtol=1e-12)
    np.testing.assert_allclose(table["log_return"].to_numpy(), expected.log_returns, rtol=1e-12)
    assert list(table["date"]) == expected.dates
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["As of"] == expected.as_of
    assert metrics["Last price"] == f"{expected.last_price:,.2f}"
    assert metrics[f"Forecast for {expected.dates[-1]}"] == f"{expected.prices[-1]:,.2f}"
    card = app.expander[0]
    assert card.label == "Model card"
    scores = card.dataframe[0].value
    assert scores.index[0] == "model"
    assert {"naive", "historical_mean"} <= set(scores.index)


def test_changing_the_ticker_changes_the_forecast(served: Path) -> None:
    app = run_app()
    before = forecast_table(app)
    last_price_before = app.metric[0].value

    app.selectbox[0].set_value("^IXIC").run()

    assert not app.exception and not app.error
    expected = expected_forecast(served, "^IXIC")
    after = forecast_table(app)
    np.testing.assert_allclose(after["price"].to_numpy(), expected.prices, rtol=1e-12)
    assert not np.allclose(after["price"].to_numpy(), before["price"].to_numpy())
    assert app.metric[0].value != last_price_before
    assert app.metric[0].value == f"{expected.last_price:,.2f}"


def test_history_slider_keeps_the_page_working(served: Path) -> None:
    app = run_app()

    app.slider[0].set_value(60).run()

    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) == 1


def test_corrupt_model_file_shows_one_line_error(
    tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"\x00garbage, not a keras zip\xff" * 10)
    monkeypatch.setenv("FINCAST_MODEL_URI", str(bad))
    app = run_app()

    assert len(app.error) == 1
    message = app.error[0].value
    assert "\n" not in message and "bad.keras" in message
    assert not app.get("plotly_chart") and not app.dataframe


def test_missing_model_file_shows_error(
    tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINCAST_MODEL_URI", str(tmp_path / "absent.keras"))
    app = run_app()

    assert len(app.error) == 1
    assert "does not exist" in app.error[0].value
