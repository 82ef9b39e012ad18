"""The Forecast page (the app's default page), run in-process by AppTest over a real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_helpers import EVIL, TICKERS, Store, copy_model, markdown_is_safe, run_page, shown


def expected(model_uri: str, tracking_uri: str | None, ticker: str, source: str = "sample"):
    """What the package itself forecasts for ``ticker`` with the model at ``model_uri``."""
    from fincast.data.loading import load_bars
    from fincast.serving.forecast import forecast_ticker, load_forecaster

    forecaster = load_forecaster(model_uri, tracking_uri)
    bars = load_bars(forecaster.card["data_source"], [ticker])
    return forecaster, forecast_ticker(forecaster, bars[ticker], ticker)


def forecast_table(app) -> pd.DataFrame:
    tables = [table.value for table in app.dataframe if "price" in table.value.columns]
    assert len(tables) == 1
    return tables[0]


def card_table(app) -> dict[str, str]:
    tables = [table.value for table in app.dataframe if list(table.value.columns) == ["value"]]
    assert len(tables) == 1
    return tables[0]["value"].to_dict()


def test_no_store_no_model_says_how_to_get_one(env: Path) -> None:
    app = run_page("Home.py")

    assert app.title[0].value == "Forecast"
    message = " ".join(info.value for info in app.info)
    assert "make run" in message and "fincast-train" in message and "no MLflow store" in message
    assert [button.label for button in app.button] == ["Train a quick model"]
    assert not app.error and not app.get("plotly_chart")
    assert not Path(env / "mlflow.db").exists(), "an empty state must not create a store"


def test_champion_is_the_default_and_matches_the_package(served: Store) -> None:
    app = run_page("Home.py")

    assert not app.error and not app.info
    model = app.sidebar.selectbox(key="fincast.model_uri.widget")
    assert model.value == f"models:/{served.registered}@champion"
    assert f"{served.registered} version 1" in model.options  # options show labels
    ticker = app.sidebar.selectbox(key="fincast.ticker.widget")
    assert ticker.options == TICKERS
    forecaster, forecast = expected(model.value, served.uri, "^GSPC")
    table = forecast_table(app)
    np.testing.assert_allclose(table["price"].to_numpy(), forecast.prices, rtol=1e-12)
    np.testing.assert_allclose(table["log_return"].to_numpy(), forecast.values, rtol=1e-12)
    assert list(table["date"]) == forecast.dates
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["As of"] == forecast.as_of
    assert metrics["Last price"] == f"{forecast.last_price:,.2f}"
    assert metrics[f"Forecast for {forecast.dates[-1]}"] == f"{forecast.prices[-1]:,.2f}"
    assert len(app.get("plotly_chart")) == 1 and len(app.get("download_button")) == 1
    card = forecaster.card
    facts = card_table(app)
    assert facts["trained on backend"] == card["backend"] == "jax"
    assert facts["training data"] == f"{card['train_start']} to {card['train_end']}"
    assert facts["held-out test"] == f"{card['test_start']} to {card['test_end']}"
    scores = next(t.value for t in app.dataframe if t.value.index.name == "forecaster")
    assert scores.index[0] == "model"
    for name, row in card["test_scores"].items():
        assert scores.loc[name, "mae"] == pytest.approx(row["mae"], rel=1e-12)
    assert any("held-out period" in shown(md.value) for md in app.markdown)
    markdown_is_safe(app)


def test_changing_the_ticker_changes_the_forecast(served: Store) -> None:
    app = run_page("views/forecast.py")
    before = forecast_table(app)

    app.sidebar.selectbox(key="fincast.ticker.widget").set_value("^IXIC").run()

    assert not app.exception and not app.error
    uri = app.sidebar.selectbox(key="fincast.model_uri.widget").value
    _, forecast = expected(uri, served.uri, "^IXIC")
    after = forecast_table(app)
    np.testing.assert_allclose(after["price"].to_numpy(), forecast.prices, rtol=1e-12)
    assert not np.allclose(after["price"].to_numpy(), before["price"].to_numpy())
    assert app.metric[0].value == f"{forecast.last_price:,.2f}"


def test_history_slider_changes_the_chart(served: Store) -> None:
    app = run_page("views/forecast.py")
    first = json.loads(app.get("plotly_chart")[0].proto.spec)

    app.slider[0].set_value(60).run()

    assert not app.exception and not app.error
    chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert len(chart["data"][0]["x"]) == 60 != len(first["data"][0]["x"])


def test_a_version_and_a_configured_file_can_be_chosen(
    served: Store, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_file = copy_model(served, env / "elsewhere")
    monkeypatch.setenv("FINCAST_MODEL_URI", str(model_file))
    app = run_page("views/forecast.py")
    model = app.sidebar.selectbox(key="fincast.model_uri.widget")
    assert model.value == str(model_file)
    _, forecast = expected(str(model_file), None, "^GSPC")
    np.testing.assert_allclose(forecast_table(app)["price"], forecast.prices, rtol=1e-12)

    model.set_value(f"models:/{served.registered}/1").run()

    assert not app.exception and not app.error
    assert card_table(app)["model URI"] == f"models:/{served.registered}/1"
    np.testing.assert_allclose(forecast_table(app)["price"], forecast.prices, rtol=1e-6)


def test_other_uri_missing_file_is_one_error(env: Path) -> None:
    app = run_page("views/forecast.py")
    app.sidebar.selectbox(key="fincast.model_uri.widget").set_value("Other model URI...").run()
    app.sidebar.text_input[0].set_value(str(env / "absent.keras")).run()

    assert not app.exception
    assert len(app.error) == 1 and "does not exist" in app.error[0].value
    assert "\n" not in app.error[0].value


def test_corrupt_model_file_shows_one_line_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = env / "bad.keras"
    bad.write_bytes(b"\x00garbage, not a keras zip\xff" * 10)
    monkeypatch.setenv("FINCAST_MODEL_URI", str(bad))
    app = run_page("views/forecast.py")

    assert len(app.error) == 1
    assert "\n" not in app.error[0].value and "bad.keras" in shown(app.error[0].value)
    assert not app.get("plotly_chart") and not app.dataframe


def test_html_ticker_shows_as_text(served: Store, cached_evil: str) -> None:
    """A cache file named by an HTML payload is listed as text; choosing it is one error
    (the data layer refuses a malformed ticker before reading it), shown as text."""
    app = run_page("views/forecast.py")
    ticker = app.sidebar.selectbox(key="fincast.ticker.widget")
    assert f"{cached_evil} (cached)" in ticker.options

    ticker.set_value(cached_evil).run()

    assert not app.exception
    assert len(app.error) == 1 and "not a Yahoo Finance symbol" in shown(app.error[0].value)
    assert cached_evil in shown(app.error[0].value)
    assert not app.get("plotly_chart")
    markdown_is_safe(app)
    assert EVIL not in " ".join(md.value for md in app.markdown)


def test_a_bundled_ticker_the_model_was_not_trained_on_can_be_forecast(
    env: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ^GSPC-only model offers the bundled ^IXIC; the page warns that the model was not
    trained on it, and that the bundled data is far more than 5 sessions old."""
    from fincast.training.pipeline import run_training
    from jobs import make_job

    job = make_job(
        model="mlp",
        units=[8],
        tickers=["^GSPC"],
        lookback=10,
        horizon=3,
        epochs=1,
        test_days=50,
        models=str(tmp_path_factory.mktemp("gspc-only")),
        verbose=0,
    )
    model_path = run_training(job).model_path
    monkeypatch.setenv("FINCAST_MODEL_URI", str(model_path))
    app = run_page("views/forecast.py")
    ticker = app.sidebar.selectbox(key="fincast.ticker.widget")
    assert ticker.options == ["^GSPC", "^IXIC (bundled)"]
    warnings = [shown(warning.value) for warning in app.warning]
    assert len(warnings) == 1 and "ends on 2018-12-31" in warnings[0]
    assert "trading sessions" in warnings[0] and "Data page" in warnings[0]

    ticker.set_value("^IXIC").run()

    assert not app.exception and not app.error
    warnings = [shown(warning.value) for warning in app.warning]
    assert len(warnings) == 2
    assert warnings[0].startswith("This model was not trained on ^IXIC (it was trained on ^GSPC)")
    _, forecast = expected(str(model_path), None, "^IXIC")
    np.testing.assert_allclose(forecast_table(app)["price"], forecast.prices, rtol=1e-12)


@pytest.fixture(scope="module")
def quantile_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real quantile model (0.1, 0.5, 0.9) saved as .keras with its card."""
    from fincast.training.pipeline import run_training
    from jobs import make_job

    job = make_job(
        model="mlp",
        units=[8],
        tickers=TICKERS,
        lookback=10,
        horizon=3,
        epochs=1,
        test_days=50,
        models=str(tmp_path_factory.mktemp("quantile-models")),
        verbose=0,
        quantiles=[0.1, 0.5, 0.9],
    )
    return run_training(job).model_path


def test_quantile_model_draws_its_interval(
    env: Path, quantile_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fincast.dashboard.content import forecast_bands

    monkeypatch.setenv("FINCAST_MODEL_URI", str(quantile_model))
    app = run_page("views/forecast.py")

    assert not app.error
    forecaster, forecast = expected(str(quantile_model), None, "^GSPC")
    bands = forecast_bands(forecast, forecaster.card)
    assert bands is not None
    table = forecast_table(app)
    np.testing.assert_allclose(table["price"], forecast.prices, rtol=1e-12)
    np.testing.assert_allclose(table["price_q0.1"], bands["q0.1"], rtol=1e-12)
    assert (table["price_q0.1"] <= table["price_q0.9"]).all()
    chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert "80% band, cumulative-return quantiles (normal approx.)" in [
        trace.get("name") for trace in chart["data"]
    ]
    assert card_table(app)["quantiles"] == "0.1, 0.5, 0.9"


@pytest.fixture(scope="module")
def volatility_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model of the volatility task (future realised volatility per step)."""
    from fincast.training.pipeline import run_training
    from jobs import make_job

    job = make_job(
        model="mlp",
        units=[8],
        tickers=["^GSPC"],
        task_name="volatility",
        target="realised_vol",
        lookback=10,
        horizon=3,
        epochs=1,
        test_days=50,
        models=str(tmp_path_factory.mktemp("volatility-models")),
        verbose=0,
    )
    return run_training(job).model_path


def test_volatility_model_shows_its_values_not_prices(
    env: Path, volatility_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINCAST_MODEL_URI", str(volatility_model))
    app = run_page("views/forecast.py")

    assert not app.error
    assert app.sidebar.selectbox(key="fincast.task.widget").value == "volatility"
    _, forecast = expected(str(volatility_model), None, "^GSPC")
    table = next(t.value for t in app.dataframe if "realised_vol" in t.value.columns)
    np.testing.assert_allclose(table["realised_vol"], forecast.values, rtol=1e-12)
    assert "price" not in table.columns
    labels = [metric.label for metric in app.metric]
    assert (
        "Last price" not in labels and f"realised_vol forecast for {forecast.dates[-1]}" in labels
    )
    chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert "realised_vol" in chart["layout"]["title"]["text"]
    assert len(chart["data"][0]["x"]) == 250  # recent realised volatility before the forecast
