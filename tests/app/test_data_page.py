"""The Data page: cached and bundled series with their checks, a refresh, an upload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_helpers import Store, markdown_is_safe, run_page, shown

from fincast.dashboard.datasets import check_series, read_upload
from fincast.data.cache import read_bars, write_bars
from fincast.data.sources import load_sample

PAGE = "views/data.py"


def inventory(app) -> pd.DataFrame:
    return next(table.value for table in app.dataframe if "days_old" in table.value.columns)


def test_empty_cache_says_what_to_do_and_shows_the_sample(env: Path) -> None:
    app = run_page(PAGE)

    assert any("fincast-fetch" in shown(info.value) for info in app.info)
    table = inventory(app).set_index("ticker")
    for ticker, bars in load_sample(["^GSPC", "^IXIC"]).items():
        assert table.loc[ticker, "rows"] == len(bars)
        assert table.loc[ticker, "first_date"] == str(bars.index[0].date())
        assert table.loc[ticker, "last_date"] == str(bars.index[-1].date())
        assert table.loc[ticker, "findings"] == check_series(bars, ticker).summary()
    assert not app.error


def test_cached_ticker_row_and_checks_match_the_package(env: Path) -> None:
    bars = load_sample(["^IXIC"])["^IXIC"].iloc[:300]
    write_bars(env / "cache", "MINE", bars, source="yfinance")
    app = run_page(PAGE)

    row = inventory(app).set_index("ticker").loc["MINE"]
    report = check_series(bars, "MINE")
    assert row["rows"] == 300 and row["source"] == "yfinance"
    assert row["last_date"] == str(bars.index[-1].date())
    assert row["errors"] == len(report.errors) and row["warnings"] == len(report.warnings)
    details = next(s for s in app.selectbox if s.label.startswith("Checks"))
    details.set_value("MINE (yfinance)").run()
    checks = next(t.value for t in app.dataframe if "check" in t.value.columns)
    expected = report.to_frame().drop(columns=["ticker"])
    assert checks["count"].tolist() == expected["count"].tolist()
    assert len(app.get("plotly_chart")) == 1


def test_refresh_offline_gives_one_error_per_ticker(env: Path) -> None:
    """Offline (as here) or with unknown symbols: one line per ticker, the cache untouched."""
    bars = load_sample(["^GSPC"])["^GSPC"].iloc[-100:]
    write_bars(env / "cache", "MINE", bars, source="yfinance")
    before = read_bars(env / "cache", "MINE")
    app = run_page(PAGE)
    assert app.text_input[0].value == "MINE"

    app.text_input[0].set_value("NO-SUCH-TICKER-1, MINE")
    app.form_submit_button[0].click().run()

    assert not app.exception
    errors = [shown(error.value) for error in app.error]
    assert [line.split(": ", 1)[0] for line in errors] == ["NO-SUCH-TICKER-1"]
    stale = [shown(warning.value) for warning in app.warning]
    assert len(stale) == 1 and stale[0].startswith("MINE: stale: 100 rows up to 2018-12-31")
    assert app.get("progress")[0].proto.value == 100
    markdown_is_safe(app)
    pd.testing.assert_frame_equal(read_bars(env / "cache", "MINE"), before)


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("A" * 5000, "longer than 20 characters"),
        ("<b>AAPL</b> <img src=x onerror=alert(1)>", "is not a Yahoo Finance symbol"),
        ("AAPL ../../etc/passwd", "contains '/'"),
    ],
)
def test_a_malformed_ticker_is_one_error_before_anything_runs(
    env: Path, typed: str, why: str
) -> None:
    """Checked before any fetch: one error quoting the value (shortened), no progress bar,
    nothing cached, and the upload section still there."""
    app = run_page(PAGE)

    app.text_input[0].set_value(typed)
    app.form_submit_button[0].click().run()

    assert not app.exception
    assert len(app.error) == 1
    message = shown(app.error[0].value)
    assert why in message and "e.g. ^GSPC" in message and len(message) < 400
    assert not app.get("progress")
    assert not (env / "cache").exists() or not list((env / "cache").glob("*.parquet"))
    assert len(app.file_uploader) == 1
    markdown_is_safe(app)


def test_too_many_tickers_is_one_clear_error(env: Path) -> None:
    app = run_page(PAGE)
    app.text_input[0].set_value(" ".join(f"T{i}" for i in range(25)))
    app.form_submit_button[0].click().run()

    assert len(app.error) == 1 and "at most 20" in shown(app.error[0].value).lower()


def upload_csv(bars: pd.DataFrame) -> bytes:
    return bars.reset_index().to_csv(index=False).encode()


def test_upload_forecasts_with_the_chosen_model(served: Store) -> None:
    from fincast.serving.forecast import forecast_ticker, load_forecaster

    bars = load_sample(["^IXIC"])["^IXIC"].iloc[-400:]
    app = run_page(PAGE)

    app.file_uploader[0].upload("my series.csv", upload_csv(bars), "text/csv").run()

    assert not app.exception and not app.error
    name = next(t for t in app.text_input if t.label == "Series name")
    assert name.value == "my series"
    forecaster = load_forecaster(f"models:/{served.registered}/1", served.uri)
    expected = forecast_ticker(forecaster, read_upload(upload_csv(bars), "my series"), "my series")
    table = next(t.value for t in app.dataframe if "price" in t.value.columns)
    np.testing.assert_allclose(table["price"].to_numpy(), expected.prices, rtol=1e-12)
    assert len(app.get("download_button")) == 1


def test_bad_upload_is_one_error(served: Store) -> None:
    app = run_page(PAGE)

    app.file_uploader[0].upload("bad.csv", b"when,what\n2020-01-01,1\n", "text/csv").run()

    assert not app.exception
    assert len(app.error) == 1
    message = shown(app.error[0].value)
    assert "The uploaded file 'bad.csv' is missing column" in message
    assert "upload.csv" not in message and "data.columns" not in message
    assert "header row" in message  # a fix the page offers: rename the column in the file


def test_a_cell_that_is_not_a_number_names_its_file_line_and_column(served: Store) -> None:
    bars = load_sample(["^IXIC"])["^IXIC"].iloc[-100:].reset_index()
    bars["close"] = bars["close"].astype(object)
    bars.loc[6, "close"] = "12,34O"
    app = run_page(PAGE)

    app.file_uploader[0].upload("prices May.csv", bars.to_csv(index=False).encode(), "text/csv")
    app.run()

    assert not app.exception
    assert len(app.error) == 1
    message = shown(app.error[0].value)
    assert message.startswith("The uploaded file 'prices May.csv', line 8, column 'close'")
    assert "'12,34O' is not a number" in message and "could not convert" not in message


def test_a_new_upload_clears_the_last_error(served: Store) -> None:
    app = run_page(PAGE)
    app.file_uploader[0].upload("bad.csv", b"when,what\n2020-01-01,1\n", "text/csv").run()
    assert len(app.error) == 1

    good = load_sample(["^IXIC"])["^IXIC"].iloc[-400:]
    app.file_uploader[0].upload("good.csv", upload_csv(good), "text/csv").run()

    assert not app.exception and not app.error
    assert any("price" in table.value.columns for table in app.dataframe)


def test_read_upload_names_a_bad_date_with_its_line() -> None:
    from fincast.data.sources import MarketDataError

    bars = load_sample(["^IXIC"])["^IXIC"].iloc[-5:].reset_index()
    bars["date"] = bars["date"].dt.strftime("%Y-%m-%d").astype(object)
    bars.loc[2, "date"] = "31/12/2018"
    with pytest.raises(MarketDataError, match=r"'mine.csv', line 4, column 'date'.*YYYY-MM-DD"):
        read_upload(bars.to_csv(index=False).encode(), "mine", file_name="mine.csv")


def test_read_upload_refuses_a_large_file() -> None:
    from fincast.data.sources import MarketDataError

    with pytest.raises(MarketDataError, match="the limit is 5 MB"):
        read_upload(b"x" * (5 * 1024 * 1024 + 1), "big")
