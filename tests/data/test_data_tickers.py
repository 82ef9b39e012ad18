"""Ticker symbols are checked where they enter: config, the data layer, typed text."""

from __future__ import annotations

import pytest

from fincast.data.sources import MarketDataError
from fincast.data.sync import sync_yfinance
from fincast.data.tickers import MAX_TICKER_LENGTH, check_ticker, parse_tickers
from fincast.data.yahoo import fetch_yfinance
from fincast.specs import DataSpec

HTML = '<a href="https://x.test">AAPL</a>'
LONG = "A" * 5000


@pytest.mark.parametrize("symbol", ["^GSPC", "BRK-B", "EURUSD=X", "0700.HK", "M&M.NS", "aapl"])
def test_yahoo_symbols_pass_unchanged(symbol: str) -> None:
    assert check_ticker(symbol) == symbol


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (LONG, f"longer than {MAX_TICKER_LENGTH} characters"),
        (HTML, "it contains ' ', '\"', '/', ':', '<'"),
        ("", "it is empty"),
        ("../etc", "it contains '/'"),
        ("..", "must start with a letter, a digit or ^"),
        ("AA PL", "it contains ' '"),
    ],
)
def test_malformed_tickers_get_one_line_naming_the_value(value: str, why: str) -> None:
    with pytest.raises(MarketDataError) as caught:
        check_ticker(value)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    assert why in message
    assert repr(value[:10])[:-1] in message  # the value is quoted, shortened
    assert "e.g. ^GSPC, BRK-B, EURUSD=X, 0700.HK" in message


def test_a_long_ticker_is_quoted_shortened_with_its_length() -> None:
    with pytest.raises(MarketDataError, match=r"'A{40}…' \(5000 characters\)"):
        check_ticker(LONG)


def test_a_non_string_ticker_is_refused() -> None:
    with pytest.raises(MarketDataError, match=r"must be text.*Received: 3 \(int\)"):
        check_ticker(3)


def test_typed_text_splits_on_commas_and_spaces_without_repeats() -> None:
    assert parse_tickers(" AAPL, msft;^GSPC\nAAPL ") == ["AAPL", "msft", "^GSPC"]


def test_pasted_html_is_refused_as_a_whole_not_split_into_tickers() -> None:
    with pytest.raises(MarketDataError, match=r"Ticker '<a' .*it contains '<'.*in the text"):
        parse_tickers(HTML)


@pytest.mark.parametrize(("text", "match"), [("  ,; ", "No ticker given"), ("A B C", "At most 2")])
def test_empty_or_too_many_typed_tickers(text: str, match: str) -> None:
    with pytest.raises(MarketDataError, match=match):
        parse_tickers(text, max_tickers=2)


@pytest.mark.parametrize("source", ["yfinance", "sample"])
def test_config_refuses_a_malformed_ticker(source: str) -> None:
    with pytest.raises(ValueError, match=r"^data\.tickers: Ticker 'A{40}…' \(5000 characters\)"):
        DataSpec(source=source, tickers=["^GSPC", LONG])


def test_config_leaves_file_series_names_alone() -> None:
    assert DataSpec(source="csv", tickers=["my fund"]).tickers == ["my fund"]


def test_the_data_layer_refuses_before_anything_runs(tmp_path) -> None:
    calls: list[str] = []

    def download(ticker: str, **options: object) -> None:
        calls.append(ticker)

    for entry in (
        lambda: sync_yfinance(["AAPL", LONG], cache_dir=tmp_path, options={"download": download}),
        lambda: fetch_yfinance(["AAPL", HTML], download=download),
    ):
        with pytest.raises(MarketDataError, match="is not a Yahoo Finance symbol"):
            entry()
    assert calls == [] and list(tmp_path.iterdir()) == []
