"""The dashboard in a real browser: every page, a ticker, the chart, the CSV, an upload, safety.

``streamlit run`` serves the app on a free loopback port over a model that ``fincast-train``
trained in a temporary folder; Debian's Chromium drives it through Playwright's sync API.
"""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pandas as pd
import pytest
from browser_helpers import ARTIFACTS, EVIL, Deployment

from fincast.dashboard.charts import band_name

MODEL = "models:/fincast-returns-lstm@champion"
SNIPPET = "<img/src=x/onerror=alert(1)>"  # an HTML payload with no spaces, as tickers have


@functools.cache
def expected(tracking_uri: str, ticker: str, csv: bytes | None = None):
    """What the package itself forecasts with the deployed champion."""
    from fincast.dashboard.datasets import read_upload
    from fincast.data.loading import load_bars
    from fincast.serving.forecast import forecast_ticker, load_forecaster

    forecaster = load_forecaster(MODEL, tracking_uri)
    if csv is not None:
        return forecast_ticker(forecaster, read_upload(csv, ticker), ticker)
    bars = load_bars(forecaster.card["data_source"], [ticker])[ticker]
    return forecast_ticker(forecaster, bars, ticker)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (a combobox with a list of options)."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def metric(page, label: str):
    """The value element of the metric labelled ``label``."""
    card = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").filter(has_text=label)
    )
    return card.get_by_test_id("stMetricValue")


def chart_title(page) -> str:
    page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for()
    return str(page.locator("[data-testid='stPlotlyChart'] .gtitle").first.text_content())


def no_exceptions(page) -> None:
    assert page.get_by_test_id("stException").count() == 0


def download_csv(page, name: str) -> tuple[str, pd.DataFrame]:
    """Click the page's CSV download; keep the file as an artifact and return it parsed."""
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS / f"{name}-{download.suggested_filename}"
    shutil.copy(download.path(), kept)
    return download.suggested_filename, pd.read_csv(kept, index_col="step")


def test_every_page_opens(page, app_url: str) -> None:
    from playwright.sync_api import expect

    checks = {
        "": lambda: page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(),
        "backtest": lambda: page.get_by_text("Hold-out scores from the model card").wait_for(),
        "runs": lambda: page.get_by_test_id("stDataFrame").first.wait_for(),
        "data": lambda: page.get_by_test_id("stDataFrame").first.wait_for(),
    }
    titles = {"": "Forecast", "backtest": "Backtest", "runs": "Runs", "data": "Data"}
    for path, ready in checks.items():
        page.goto(f"{app_url}/{path}")
        expect(page.locator("h1").first).to_have_text(titles[path])
        ready()
        no_exceptions(page)
        page.screenshot(path=str(ARTIFACTS / f"page-{titles[path].lower()}.png"))
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Forecast").click()
    expect(page.locator("h1").first).to_have_text("Forecast")


def test_pick_a_ticker_and_see_the_chart(page, app_url: str, deployment: Deployment) -> None:
    from playwright.sync_api import expect

    page.goto(app_url)
    gspc = expected(deployment.tracking_uri, "^GSPC")
    expect(metric(page, "Last price")).to_have_text(f"{gspc.last_price:,.2f}")
    assert "^GSPC" in chart_title(page)

    choose(page, "Ticker", "^IXIC")

    ixic = expected(deployment.tracking_uri, "^IXIC")
    expect(metric(page, "Last price")).to_have_text(f"{ixic.last_price:,.2f}")
    expect(metric(page, f"Forecast for {ixic.dates[-1]}")).to_have_text(f"{ixic.prices[-1]:,.2f}")
    expect(page.locator("[data-testid='stPlotlyChart'] .gtitle").first).to_contain_text("^IXIC")
    legend = page.locator("[data-testid='stPlotlyChart'] .legendtext")
    # the old chart is gone; the point model's conformal 80% interval is drawn as its band
    # (a filled trace makes Plotly list the legend in reverse)
    expect(legend).to_have_text(["forecast", band_name(0.8), "^IXIC price"])
    no_exceptions(page)


def test_download_the_forecast_csv(page, app_url: str, deployment: Deployment) -> None:
    page.goto(app_url)
    chart_title(page)
    gspc = expected(deployment.tracking_uri, "^GSPC")

    name, table = download_csv(page, "forecast")

    assert name.startswith("fincast-forecast-GSPC-") and name.endswith(f"-{gspc.as_of}.csv")
    assert list(table["date"]) == gspc.dates
    np.testing.assert_allclose(table["price"], gspc.prices, rtol=1e-12)
    np.testing.assert_allclose(table["log_return"], gspc.values, rtol=1e-12)


def test_an_html_ticker_shows_as_text(page, app_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(app_url)
    chart_title(page)
    choose(page, "Ticker", f"{EVIL} (cached)")
    expect(page.get_by_role("combobox", name="Ticker")).to_have_value(f"{EVIL} (cached)")
    # the data layer refuses a malformed ticker before reading it: one error, as text
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_have_count(1)
    expect(error).to_contain_text(f"Ticker '{EVIL}' is not a Yahoo Finance symbol")
    assert page.locator("img[src='x']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "html-ticker-forecast.png"))

    page.goto(f"{app_url}/data")
    page.get_by_test_id("stTextInput").locator("input").fill(f"{SNIPPET} NO-SUCH-TICKER-1")
    page.get_by_role("button", name="Refresh from Yahoo Finance").click()
    alerts = page.get_by_test_id("stAlertContentError")
    expect(alerts).to_have_count(1)  # refused before anything is fetched
    expect(alerts.first).to_contain_text(f"Ticker '{SNIPPET}' is not a Yahoo Finance symbol")
    page.screenshot(path=str(ARTIFACTS / "html-ticker-refresh.png"))

    assert page.locator("img[src='x']").count() == 0
    assert page.locator("img[onerror]").count() == 0


def test_upload_a_csv_and_forecast_it(page, app_url: str, deployment: Deployment) -> None:
    from playwright.sync_api import expect

    from fincast.data.sources import load_sample

    bars = load_sample(["^IXIC"])["^IXIC"].iloc[-300:]
    csv = bars.reset_index().to_csv(index=False).encode()
    page.goto(f"{app_url}/data")
    page.get_by_test_id("stDataFrame").first.wait_for()

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": "mine.csv", "mimeType": "text/csv", "buffer": csv}
    )

    expect(page.locator("[data-testid='stPlotlyChart'] .gtitle").last).to_contain_text("mine")
    mine = expected(deployment.tracking_uri, "mine", csv)
    expect(metric(page, "Last price")).to_have_text(f"{mine.last_price:,.2f}")
    name, table = download_csv(page, "upload")
    assert name.startswith("fincast-forecast-mine-") and name.endswith(f"-{mine.as_of}.csv")
    np.testing.assert_allclose(table["price"], mine.prices, rtol=1e-12)
    no_exceptions(page)


def test_runs_and_backtest_pages_show_their_tables(page, app_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{app_url}/runs")
    page.get_by_test_id("stDataFrame").first.wait_for()
    link = page.get_by_role("link", name="Open the MLflow UI")
    assert link.get_attribute("href") == "http://127.0.0.1:5999"
    expect(page.get_by_test_id("stDataFrame")).to_have_count(3)  # runs, metrics, params

    page.goto(f"{app_url}/backtest")
    page.get_by_text("a saved folder").click()
    expect(page.get_by_text("model vs naive: worse than naive (p=0.0004)")).to_be_visible()
    for heading in ("Per fold", "Interval calibration", "Trading the forecast"):
        page.get_by_role("heading", name=heading).scroll_into_view_if_needed()
    page.get_by_test_id("stMain").evaluate("main => main.scrollTo(0, main.scrollHeight)")
    charts = page.get_by_test_id("stPlotlyChart")  # rendered once scrolled into view
    expect(charts).to_have_count(3)  # folds, calibration, equity
    expect(charts.last.locator(".gtitle")).to_contain_text("Equity curve")
    no_exceptions(page)


@pytest.mark.parametrize("path", ["", "data"])
def test_no_page_runs_injected_script(page, app_url: str, path: str) -> None:
    """The page fixture fails the test if any ``alert()`` dialog opened."""
    page.goto(f"{app_url}/{path}")
    page.get_by_test_id("stMainBlockContainer").wait_for()
    page.wait_for_timeout(1000)
    assert page.dialogs == []  # type: ignore[attr-defined]
