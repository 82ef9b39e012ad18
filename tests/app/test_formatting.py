"""Finance formatting on the rendered pages: what a reader sees in the tables, via AppTest.

A table is shown as a pandas Styler: its numbers stay numbers (``.value``), and the text
the browser renders is the Styler's display values, read here from the element.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io
import pytest
from dashboard_helpers import TICKERS, TIMEOUT, Store, run_page, shown, write_backtest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from fincast.dashboard.formatting import p_value, percent, price, significant

PRICE = re.compile(r"^\d{1,3}(,\d{3})*\.\d{2}$")
PERCENT = re.compile(r"^[-+]?\d+(\.\d+)?%$")


def rendered(table) -> pd.DataFrame:
    """The text a dataframe element renders (its Styler's display values)."""
    data = table.proto.arrow_data.styler.display_values
    assert data, "the table was not shown through a Styler"
    return dataframe_util.convert_arrow_bytes_to_pandas_df(data)


def headers(table) -> dict[str, str]:
    """The column headers the element shows (column_config labels; else the name)."""
    config = json.loads(table.proto.columns or "{}")
    return {str(name): config.get(str(name), {}).get("label", str(name)) for name in table.value}


def numbers(values) -> np.ndarray:
    """A Plotly trace's values, decoded when the spec holds them as typed binary data."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype="float64")


def significant_digits(text: str) -> int:
    return len(text.replace(",", "").replace(".", "").replace("-", "").lstrip("0"))


def test_the_formats() -> None:
    assert [percent(-0.0545), percent(0.2294, 1), percent(1.0, 1)] == ["-5.45%", "22.9%", "100.0%"]
    assert [p_value(3e-54), p_value(0.00036), p_value(0.042), p_value(0.5)] == [
        "< 1e-16",
        "3.6e-04",
        "0.042",
        "0.50",
    ]
    assert max(len(p_value(10.0**-power)) for power in range(400)) <= 10
    assert [price(2313.456), price(12.0)] == ["2,313.46", "12.00"]
    assert [significant(0.0074123), significant(0.0074187)] == ["0.007412", "0.007419"]


def test_forecast_page_prices_percentages_units_and_every_card_row(served: Store) -> None:
    app = run_page("views/forecast.py")

    table = next(t for t in app.dataframe if "price" in t.value.columns)
    text = rendered(table)
    assert all(PRICE.match(value) for value in text["price"]), text["price"]
    assert all(PERCENT.match(value) for value in text["log_return"]), text["log_return"]
    assert headers(table)["log_return"] == "log return (%)"
    assert headers(table)["price"] == "price (quote units)"
    metrics = {metric.label: metric for metric in app.metric}
    assert PRICE.match(metrics["Last price"].value)
    assert PERCENT.match(next(m.delta for m in app.metric if m.delta))
    card = next(t for t in app.dataframe if list(t.value.columns) == ["value"])
    assert len(rendered(card)) == 12  # every row of the card (and the table is tall enough)
    scores = next(t for t in app.dataframe if t.value.index.name == "forecaster")
    mae = rendered(scores)["mae"]
    assert all(significant_digits(value) == 4 for value in mae), mae
    np.testing.assert_allclose(
        [float(value) for value in mae], scores.value["mae"] * 100, rtol=1e-3
    )  # MAE in percent
    labels = headers(scores)
    assert labels["mae"] == "MAE (%)" and labels["mae_vs_naive"] == "MAE / naive's MAE (ratio)"
    assert labels["hit_rate"] == "hit rate (%)"
    assert all(PERCENT.match(v) for v in rendered(scores)["hit_rate"] if v != "n/a")


def show_saved_backtest(folder: str) -> None:
    """A script for AppTest: the Backtest page's view of one saved folder."""
    from fincast.dashboard.backtests import read_result
    from fincast.dashboard.views import show_backtest

    show_backtest(read_result(folder))


def test_backtest_view_p_values_returns_and_shares(tmp_path: Path) -> None:
    folder = write_backtest(tmp_path / "backtest" / "GSPC")
    scores = pd.read_csv(folder / "scores.csv", index_col=0)
    scores.loc["naive", "dm_p_all"] = 3.3e-54  # a decisive test: 50 digits as a decimal
    scores.loc["historical_quantiles", "dm_p_h1"] = 1.23456789e-7
    scores.to_csv(folder / "scores.csv")
    trading = pd.read_csv(folder / "trading.csv", index_col=0)
    trading["annual_volatility"] = [0.2294, 0.18]
    trading["days_in_market"] = [1.0, 0.5]
    trading["annual_return"] = [-0.0545, 0.071]
    trading.to_csv(folder / "trading.csv")

    app = AppTest.from_function(
        show_saved_backtest, args=(str(folder),), default_timeout=TIMEOUT
    ).run()

    assert not app.exception, [element.value for element in app.exception]
    tests = next(t for t in app.dataframe if t.value.index.name == "model against")
    text = rendered(tests)
    values = [value for column in text for value in text[column]]
    assert values and max(len(value) for value in values) <= 10, values
    assert text.loc["naive", "all"] == "< 1e-16"
    assert text.loc["historical_quantiles", "h1"] == "1.2e-07"
    assert headers(tests)["all"] == "DM p-value, all"
    trades = next(t for t in app.dataframe if "sharpe" in t.value.columns)
    text = rendered(trades)
    assert list(text["annual_return"]) == ["-5.45%", "7.10%"]
    assert list(text["annual_volatility"]) == ["22.9%", "18.0%"]
    assert list(text["days_in_market"]) == ["100.0%", "50.0%"]
    assert headers(trades)["days_in_market"] == "days in market (%)"
    metrics = next(t for t in app.dataframe if "mse" in t.value.columns)
    assert all(PERCENT.match(v) for v in rendered(metrics)["cover_80"] if v != "n/a")
    calibration = next(t for t in app.dataframe if "empirical" in t.value.columns)
    assert list(rendered(calibration)["empirical"]) == ["79.0%", "88.0%"]
    spa = " ".join(shown(md.value) for md in app.markdown)
    assert "p=0.42" in spa


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
        models=str(tmp_path_factory.mktemp("band-models")),
        verbose=0,
        quantiles=[0.1, 0.5, 0.9],
    )
    return run_training(job).model_path


def test_quantile_forecast_band_is_labelled_and_joins_the_history(
    env: Path, quantile_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINCAST_MODEL_URI", str(quantile_model))
    app = run_page("views/forecast.py")

    assert not app.error
    table = next(t for t in app.dataframe if "price" in t.value.columns)
    text = rendered(table)
    for column in ("price_q0.1", "price_q0.5", "price_q0.9"):
        assert all(PRICE.match(value) for value in text[column]), text[column]
        assert headers(table)[column].endswith(", cumulative (quote units)")
    assert all(PERCENT.match(value) for value in text["q0.1"])
    chart = plotly.io.from_json(app.get("plotly_chart")[0].proto.spec)
    names = [trace.name for trace in chart.data]
    assert "80% band, cumulative-return quantiles (normal approx.)" in names
    assert "cumulative-return quantiles" in chart.layout.title.text
    history = chart.data[0]
    forecast = next(trace for trace in chart.data if trace.name == "forecast")
    assert pd.Timestamp(forecast.x[0]) == pd.Timestamp(history.x[-1])  # the line joins...
    assert numbers(forecast.y)[0] == pytest.approx(numbers(history.y)[-1])  # ...at the close
    captions = " ".join(caption.value for caption in app.caption)
    assert "80% band" in captions and "cumulative k-day log return" in captions
