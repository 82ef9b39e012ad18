"""Streamlit glue of the Data page: the cache table, a refresh with progress, an upload.

The numbers come from :mod:`fincast.dashboard.datasets`; this module lays them out and
caches them (``st.cache_data``, keyed by the cache files' modification times).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from fincast.dashboard import datasets
from fincast.dashboard.charts import price_figure
from fincast.dashboard.content import Settings, code_span, escape_markdown, one_line
from fincast.data.cache import cached_tickers
from fincast.data.sources import MarketDataError, sample_tickers

# room for 20 symbols of the longest allowed form and their separators
MAX_TICKER_TEXT = 500


def cache_stamps(cache_dir: str) -> tuple[float, ...]:
    """Modification times of every cache file (a cache key that changes on refresh)."""
    folder = Path(cache_dir)
    return tuple(sorted(path.stat().st_mtime for path in folder.glob("*.parquet")))


@st.cache_data(max_entries=8, show_spinner="Checking the cached data...")
def inventory(cache_dir: str, stamps: tuple[float, ...]) -> pd.DataFrame:
    """The bundled sample and every cached ticker, with their checks (cached per stamps)."""
    cached = datasets.cache_inventory(cache_dir)
    sample = datasets.sample_inventory(sample_tickers())
    frames = [frame for frame in (cached, sample) if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else cached


@st.cache_data(max_entries=16, show_spinner=False)
def findings(cache_dir: str, ticker: str, source: str, stamps: tuple[float, ...]) -> tuple:
    """One ticker's check table and price series (sample or cache)."""
    from fincast.data import cache
    from fincast.data.features import price_series
    from fincast.data.sources import load_sample

    bars = load_sample([ticker])[ticker] if source.startswith("sample") else None
    bars = bars if bars is not None else cache.read_bars(cache_dir, ticker)
    if bars is None:
        raise MarketDataError(f"{ticker!r} is no longer cached.")
    report = datasets.check_series(bars, ticker)
    return report.to_frame().drop(columns=["ticker"]), price_series(bars)


def show_inventory(settings: Settings) -> None:
    """The table of cached and bundled series, and the checks of one of them."""
    table = inventory(settings.cache_dir, cache_stamps(settings.cache_dir))
    if not cached_tickers(settings.cache_dir):
        st.info(
            f"No cached tickers in {code_span(settings.cache_dir + '/')} yet: refresh some "
            "below, or run `fincast-fetch data=yfinance 'data.tickers=[AAPL]'`. The bundled "
            "sample below needs no network."
        )
    st.dataframe(
        table,
        hide_index=True,
        column_config={"days_old": st.column_config.NumberColumn("days since last bar")},
    )
    rows = {f"{row.ticker} ({row.source})": row for row in table.itertuples()}
    chosen = st.selectbox("Checks and prices of", list(rows))
    if chosen is None:
        return
    row = rows[chosen]
    try:
        checks, prices = findings(
            settings.cache_dir, str(row.ticker), str(row.source), cache_stamps(settings.cache_dir)
        )
    except (MarketDataError, OSError, ValueError) as failure:
        st.error(escape_markdown(one_line(failure)))
        return
    st.dataframe(checks, hide_index=True)
    st.plotly_chart(price_figure(prices, str(row.ticker)), key="data_price_chart")


def refresh(settings: Settings, tickers: list[str]) -> list[datasets.RefreshResult]:
    """Refresh ``tickers`` with a progress bar; one success or error line per ticker."""
    bar = st.progress(0.0, text=f"Refreshing {len(tickers)} ticker(s) from Yahoo Finance...")

    def advance(done: int, result: datasets.RefreshResult) -> None:
        bar.progress(done / len(tickers), text=f"{done} of {len(tickers)} done")

    results = datasets.refresh_tickers(tickers, settings.cache_dir, on_result=advance)
    bar.progress(1.0, text="Refresh finished")
    for result in results:
        line = escape_markdown(f"{result.ticker}: {one_line(result.message)}")
        if result.ok:
            st.success(line)
        elif result.status == "stale":
            st.warning(line)
        else:
            st.error(line)
    inventory.clear()
    return results


def refresh_form(settings: Settings) -> None:
    """Tickers to refresh and the button; the tickers are checked, then refreshed on submit."""
    cached = cached_tickers(settings.cache_dir)
    with st.form("refresh"):
        text = st.text_input(
            "Tickers (Yahoo symbols, separated by spaces or commas)",
            value=" ".join(cached),
            max_chars=MAX_TICKER_TEXT,
            help="Up to 20 symbols of letters, digits and . - ^ = &, e.g. AAPL ^GSPC BRK-B.",
        )
        submitted = st.form_submit_button("Refresh from Yahoo Finance")
    if not submitted:
        return
    try:
        tickers = datasets.parse_tickers(text)
    except ValueError as failure:  # MarketDataError included: too many or malformed
        st.error(escape_markdown(one_line(failure)))
        return
    if not tickers:
        st.warning("Enter at least one ticker, e.g. AAPL or ^GSPC.")
        return
    try:
        refresh(settings, tickers)
    except (MarketDataError, OSError) as failure:  # the cache folder cannot be written
        st.error(escape_markdown(f"The refresh stopped: {one_line(failure)}"))


def upload_forecast(settings: Settings, model_uri: str | None) -> None:
    """Upload a CSV of daily bars and forecast it with the chosen model.

    The message slot sits above the slow work, so a new upload clears the last error
    at once instead of leaving it on screen while the model loads.
    """
    from fincast.dashboard import ui, views
    from fincast.serving.forecast import forecast_ticker

    upload = st.file_uploader(
        "CSV with columns date, open, high, low, close, volume (adj_close optional)",
        type=["csv"],
        help=f"At most {datasets.MAX_UPLOAD_BYTES // 2**20} MB; ISO dates (YYYY-MM-DD).",
    )
    message = st.empty()
    if upload is None:
        message.caption("The file is read in memory for this session only; nothing is stored.")
        return
    name = st.text_input("Series name", value=Path(upload.name).stem[:40] or "series").strip()
    shared = ui.load_model(settings, model_uri) if model_uri else None
    if shared is None:
        message.info("Choose a model in the sidebar (or train one on the Forecast page) first.")
        return
    card = shared.forecaster.card
    try:
        bars = datasets.read_upload(upload.getvalue(), name or "series", file_name=upload.name)
        with shared.lock:
            forecast = forecast_ticker(shared.forecaster, bars, name or "series")
    except (MarketDataError, ValueError, OSError, KeyError) as failure:
        message.error(escape_markdown(one_line(failure)))
        return
    views.show_forecast(forecast, card, bars, 250)
