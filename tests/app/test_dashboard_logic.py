"""The dashboard's logic without Streamlit: model choices, escaping, intervals, tables, figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fincast.dashboard.charts import calibration_figure, equity_figure, forecast_figure
from fincast.dashboard.content import (
    Settings,
    code_span,
    csv_filename,
    escape_markdown,
    forecast_bands,
    forecast_table,
    headline,
    outer_band,
    ticker_choices,
)
from fincast.dashboard.model_choices import ModelChoice, model_choices, registry_choices
from fincast.dashboard.runs import compare_params, table_metrics
from fincast.dashboard.views import band_caption
from fincast.serving.forecast import Forecast

EVIL = "<img src=x onerror=alert(1)>"


def a_forecast(ticker: str = "^GSPC") -> Forecast:
    return Forecast(
        ticker=ticker,
        as_of="2018-12-31",
        last_price=100.0,
        dates=["2019-01-01", "2019-01-02", "2019-01-03"],
        values=[0.01, 0.0, -0.01],
        prices=list(100.0 * np.exp(np.cumsum([0.01, 0.0, -0.01]))),
        model_uri="m.keras",
        backend="jax",
    )


def versions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["fincast-returns-lstm", "fincast-returns-lstm", "fincast-volatility-mlp"],
            "version": [2, 1, 1],
            "aliases": [["champion"], ["old"], []],
            "run_id": ["a", "b", "c"],
            "created": pd.to_datetime(["2026-01-02", "2026-01-01", "2026-01-01"], utc=True),
        }
    )


def test_registry_choices_put_aliases_first() -> None:
    uris = [choice.uri for choice in registry_choices(versions())]
    assert uris == [
        "models:/fincast-returns-lstm@champion",
        "models:/fincast-returns-lstm@old",
        "models:/fincast-returns-lstm/2",
        "models:/fincast-returns-lstm/1",
        "models:/fincast-volatility-mlp/1",
    ]


def test_model_choices_default_to_the_configured_uri_then_the_champion(tmp_path) -> None:
    settings = Settings(models_dir=str(tmp_path))
    assert model_choices(settings, versions(), "returns")[0].uri == (
        "models:/fincast-returns-lstm@champion"
    )
    assert [c.uri for c in model_choices(settings, versions(), "volatility")] == [
        "models:/fincast-volatility-mlp/1"
    ]
    configured = Settings(models_dir=str(tmp_path), model_uri="models:/fincast-returns-lstm/1")
    first, *rest = model_choices(configured, versions(), "returns")
    assert first == ModelChoice("configured: models:/fincast-returns-lstm/1", first.uri, "returns")
    assert first.uri not in [choice.uri for choice in rest]


def test_settings_from_environment_resolve_relative_sqlite(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_environment(
        {"FINCAST_TRACKING_URI": "sqlite:///x.db", "FINCAST_MLFLOW_UI_URL": "http://h:1/"}
    )
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/x.db"
    assert settings.mlflow_ui_url == "http://h:1" and settings.store_missing()
    assert Settings.from_environment({}).mlflow_ui_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    "text", [EVIL, "![x](http://e/x.png)", "[a](javascript:alert(1))", "$x$ :red[y] **z**"]
)
def test_escaped_markdown_has_no_active_characters(text: str) -> None:
    escaped = escape_markdown(text)
    for char in "<>[]()!$*:":
        assert char not in escaped.replace(f"\\{char}", "")
    assert code_span(text).strip("`") == text


def test_ticker_choices_keep_the_card_source_and_add_cached() -> None:
    card = {"tickers": ["^GSPC"], "data_source": "sample"}
    choices = ticker_choices(card, ["^GSPC", EVIL])
    assert [(c.ticker, c.source) for c in choices] == [("^GSPC", "sample"), (EVIL, "yfinance")]
    assert choices[1].options == {"refresh": "never"} and choices[1].label == f"{EVIL} (cached)"


def test_headline_says_lower_or_higher_per_baseline() -> None:
    card = {
        "test_scores": {
            "model": {"mae": 0.9},
            "naive": {"mae": 1.0},
            "historical_mean": {"mae": 0.6},
        },
        "test_start": "2018-01-02",
        "test_end": "2018-12-31",
    }
    assert headline(card) == (
        "On the held-out period 2018-01-02 to 2018-12-31 the model's MAE was "
        "10.0% lower than naive's and 50.0% higher than historical_mean's."
    )
    assert headline({}) is None


def test_point_forecast_has_no_bands() -> None:
    forecast = a_forecast()
    assert forecast_bands(forecast) is None
    figure = forecast_figure(
        pd.Series([99.0, 100.0], index=pd.to_datetime(["2018-12-28", "2018-12-31"])), forecast
    )
    assert [trace.name for trace in figure.data] == ["^GSPC price", "forecast"]


def test_a_point_forecasts_conformal_interval_becomes_its_band() -> None:
    forecast = a_forecast()
    forecast.interval = {
        "level": 0.8,
        "method": "split",
        "lower": [-0.01, -0.012, -0.025],
        "upper": [0.03, 0.012, 0.005],
    }
    bands = forecast_bands(forecast)
    assert bands is not None and list(bands.columns) == ["q0.1", "q0.5", "q0.9"]
    # step 1 is the interval itself, as prices
    np.testing.assert_allclose(bands.loc[1, ["q0.1", "q0.9"]], 100.0 * np.exp([-0.01, 0.03]))
    np.testing.assert_allclose(bands["q0.5"], forecast.prices)  # centred on the forecast path
    assert "calibrated 80% interval (split conformal)" in band_caption(0.8, forecast.interval)


def test_quantile_log_returns_become_price_bands() -> None:
    forecast = a_forecast()
    forecast.quantiles = {
        0.1: [-0.02, -0.02, -0.03],
        0.5: [0.01, 0.0, -0.01],
        0.9: [0.03, 0.02, 0.01],
    }  # type: ignore[attr-defined]

    bands = forecast_bands(forecast)

    assert bands is not None and list(bands.columns) == ["q0.1", "q0.5", "q0.9"]
    # quantiles of the cumulative log return (independent normal steps, each side's spread
    # from its own quantile), computed independently with scipy; not the per-step sums
    from scipy.stats import norm

    z = norm.ppf(0.9)
    lower_spread = (np.array([0.01, 0.0, -0.01]) - np.array([-0.02, -0.02, -0.03])) / z
    cumulative = np.cumsum([0.01, 0.0, -0.01]) + norm.ppf(0.1) * np.sqrt(np.cumsum(lower_spread**2))
    np.testing.assert_allclose(bands["q0.1"], 100 * np.exp(cumulative))
    assert (bands["q0.1"].iloc[1:] > 100 * np.exp(np.cumsum([-0.02, -0.02, -0.03]))[1:]).all()
    np.testing.assert_allclose(bands["q0.5"], forecast.prices)
    assert outer_band(bands) == ("q0.1", "q0.9", 0.8)
    table = forecast_table(forecast, bands)
    assert list(table.columns[:3]) == ["date", "log_return", "price"]
    for level in ("0.1", "0.5", "0.9"):  # the price quantiles beside whatever to_frame() gives
        np.testing.assert_allclose(table[f"price_q{level}"], bands[f"q{level}"])
    history = pd.Series([100.0], index=pd.to_datetime(["2018-12-31"]))
    figure = forecast_figure(history, forecast, bands, outer_band(bands))
    band = next(trace for trace in figure.data if str(trace.name).startswith("80% band"))
    assert band.fill == "tonexty" and list(band.y)[1:] == list(bands["q0.1"])


def test_quantile_array_with_card_levels_and_quantile_prices() -> None:
    forecast = a_forecast()
    forecast.quantiles = np.array([[-0.01, 0.0, 0.01]] * 3)  # type: ignore[attr-defined]
    bands = forecast_bands(forecast, {"quantiles": [0.05, 0.5, 0.95]})
    assert bands is not None and outer_band(bands) == ("q0.05", "q0.95", 0.9)
    priced = a_forecast()
    priced.quantile_prices = {"0.25": [1.0, 2.0, 3.0], "0.75": [4.0, 5.0, 6.0]}  # type: ignore[attr-defined]
    bands = forecast_bands(priced)
    assert bands is not None and bands["q0.75"].tolist() == [4.0, 5.0, 6.0]


def test_figures_escape_html_in_names() -> None:
    forecast = a_forecast(EVIL)
    history = pd.Series([100.0], index=pd.to_datetime(["2018-12-31"]))
    spec = forecast_figure(history, forecast).to_json()
    assert "<img" not in spec and "&lt;img" in spec
    equity = pd.DataFrame({EVIL: [1.0, 1.1], "buy_and_hold": [1.0, 0.9]})
    assert "<img" not in equity_figure(equity).to_json()
    calibration = pd.DataFrame({"forecaster": [EVIL], "nominal": [0.8], "empirical": [0.7]})
    assert "<img" not in calibration_figure(calibration).to_json()


def test_csv_filename_keeps_safe_characters() -> None:
    card = {"model": "lstm", "task": "returns"}
    assert (
        csv_filename(a_forecast(EVIL), card)
        == "fincast-forecast-imgsrcxonerroralert1-lstm-returns-2018-12-31.csv"
    )
    assert csv_filename(a_forecast("../..")) == "fincast-forecast-ticker-2018-12-31.csv"


def test_runs_table_metrics_and_param_differences() -> None:
    assert table_metrics(["epoch_loss", "wf_naive_mae", "wf_model_mae", "test_mae"]) == [
        "test_mae",
        "wf_model_mae",
    ]
    runs = pd.DataFrame(
        {
            "run_id": ["aaaaaaaa1", "bbbbbbbb2"],
            "run_name": ["one", "two"],
            "params.seed": ["1", "1"],
            "params.units": ["8", "16"],
        }
    )
    table = compare_params(runs, ["aaaaaaaa1", "bbbbbbbb2"], only_differences=True)
    assert list(table.index) == ["units"] and list(table.columns) == [
        "one (aaaaaaaa)",
        "two (bbbbbbbb)",
    ]
    assert json.loads(table.to_json())["one (aaaaaaaa)"] == {"units": "8"}
