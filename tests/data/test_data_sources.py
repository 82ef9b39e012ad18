"""The bundled sample and user CSV/Parquet files as market-data sources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fincast.data.sources import (
    PRICE_COLUMNS,
    MarketDataError,
    load_sample,
    load_table,
    sample_tickers,
)
from fincast.data.validate import validate_bars

SAMPLE_TICKERS = ("^GSPC", "^IXIC")


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return load_sample(list(SAMPLE_TICKERS))


def test_sample_tickers_lists_both_indices() -> None:
    assert sample_tickers() == ["^GSPC", "^IXIC"]


@pytest.mark.parametrize("ticker", SAMPLE_TICKERS)
def test_load_sample_shape_dates_and_dtypes(sample: dict[str, pd.DataFrame], ticker: str) -> None:
    bars = sample[ticker]
    assert bars.shape == (5031, len(PRICE_COLUMNS))
    assert list(bars.columns) == list(PRICE_COLUMNS)
    assert isinstance(bars.index, pd.DatetimeIndex)
    assert bars.index.name == "date"
    assert bars.index.tz is None
    assert bars.index[0] == pd.Timestamp("1999-01-04")
    assert bars.index[-1] == pd.Timestamp("2018-12-31")
    assert bars.index.is_monotonic_increasing and bars.index.is_unique
    assert all(dtype == np.float64 for dtype in bars.dtypes)
    validate_bars(bars, ticker)  # the bundled data must pass fincast's own checks


def test_load_sample_keeps_requested_order_and_distinct_series(
    sample: dict[str, pd.DataFrame],
) -> None:
    assert list(sample) == list(SAMPLE_TICKERS)
    assert not np.allclose(sample["^GSPC"]["close"], sample["^IXIC"]["close"])
    single = load_sample(["^IXIC"])
    assert list(single) == ["^IXIC"]
    pd.testing.assert_frame_equal(single["^IXIC"], sample["^IXIC"])


def test_load_sample_first_row_matches_the_csv(sample: dict[str, pd.DataFrame]) -> None:
    first = sample["^GSPC"].iloc[0]
    assert first["open"] == pytest.approx(1229.229980)
    assert first["close"] == pytest.approx(1228.099976)
    assert first["volume"] == pytest.approx(877_000_000)


def test_load_sample_unknown_ticker_names_available_ones() -> None:
    with pytest.raises(MarketDataError) as caught:
        load_sample(["^GSPC", "AAPL"])
    message = str(caught.value)
    assert "AAPL" in message
    assert "^GSPC" in message and "^IXIC" in message


def _write_csv(path, text: str):
    path.write_text(text.strip() + "\n")
    return path


def test_load_table_matches_columns_case_insensitively(tmp_path) -> None:
    path = _write_csv(
        tmp_path / "spy.csv",
        """
Date,OPEN,High,low,Close,Adj_Close,VOLUME
2024-01-03,11,13,10,12,11.5,2000
2024-01-02,10,12,9,11,10.5,1000
""",
    )
    bars = load_table(path)
    assert list(bars) == ["spy"]  # named by the file's stem
    frame = bars["spy"]
    assert list(frame.columns) == list(PRICE_COLUMNS)
    assert frame.index.name == "date"
    assert list(frame.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    assert frame.loc["2024-01-02", "open"] == 10.0
    assert frame.loc["2024-01-03", "adj_close"] == 11.5
    assert all(dtype == np.float64 for dtype in frame.dtypes)


def test_load_table_single_series_named_by_first_ticker(tmp_path) -> None:
    path = _write_csv(
        tmp_path / "data.csv",
        """
date,open,high,low,close,volume
2024-01-02,10,12,9,11,1000
""",
    )
    assert list(load_table(path, tickers=["MSFT"])) == ["MSFT"]


def test_load_table_custom_column_mapping(tmp_path) -> None:
    path = _write_csv(
        tmp_path / "custom.csv",
        """
Day,O,H,L,Last,Shares,Comment
2024-01-02,10,12,9,11,1000,first
2024-01-03,11,13,10,12,2000,second
""",
    )
    mapping = {
        "date": "day",
        "open": "O",
        "high": "h",
        "low": "L",
        "close": "LAST",
        "volume": "Shares",
    }
    frame = load_table(path, tickers=["X"], columns=mapping)["X"]
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame["close"].tolist() == [11.0, 12.0]
    assert frame["volume"].tolist() == [1000.0, 2000.0]


CSV_PANEL = """
Symbol,date,open,high,low,close,volume
BBB,2024-01-02,20,22,19,21,200
AAA,2024-01-03,11,13,10,12,2000
AAA,2024-01-02,10,12,9,11,1000
CCC,2024-01-02,30,32,29,31,300
BBB,2024-01-03,21,23,20,22,400
"""


def test_load_table_ticker_column_with_several_tickers(tmp_path) -> None:
    path = _write_csv(tmp_path / "panel.csv", CSV_PANEL)
    everything = load_table(path, ticker_column="symbol")
    assert list(everything) == ["AAA", "BBB", "CCC"]
    assert everything["AAA"]["close"].tolist() == [11.0, 12.0]  # sorted by date
    assert "ticker" not in everything["AAA"].columns
    assert len(everything["CCC"]) == 1
    chosen = load_table(path, ticker_column="Symbol", tickers=["BBB", "AAA"])
    assert list(chosen) == ["BBB", "AAA"]
    assert chosen["BBB"]["volume"].tolist() == [200.0, 400.0]


def test_load_table_ticker_column_unknown_ticker(tmp_path) -> None:
    path = _write_csv(tmp_path / "panel.csv", CSV_PANEL)
    with pytest.raises(MarketDataError, match=r"ZZZ.*AAA, BBB, CCC"):
        load_table(path, ticker_column="Symbol", tickers=["AAA", "ZZZ"])


def test_load_table_us_date_format(tmp_path) -> None:
    path = _write_csv(
        tmp_path / "us.csv",
        """
date,open,high,low,close,volume
01/02/2024,10,12,9,11,1000
12/31/2024,11,13,10,12,2000
""",
    )
    frame = load_table(path, date_format="%m/%d/%Y")["us"]
    assert list(frame.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31")]


def test_load_table_parquet(tmp_path, make_bars) -> None:
    bars = make_bars(6, adj_close=False)
    path = tmp_path / "bars.parquet"
    bars.reset_index().rename(columns=str.upper).to_parquet(path)
    frame = load_table(path, tickers=["P"])["P"]
    pd.testing.assert_frame_equal(frame, bars, check_freq=False)


def test_load_table_missing_column_names_it_and_the_found_columns(tmp_path) -> None:
    path = _write_csv(
        tmp_path / "short.csv",
        """
Date,Open,High,Low,Close
2024-01-02,10,12,9,11
""",
    )
    with pytest.raises(MarketDataError) as caught:
        load_table(path)
    message = str(caught.value)
    assert "volume" in message
    for found in ("Date", "Open", "High", "Low", "Close"):
        assert found in message


def test_load_table_missing_mapped_column_names_the_mapping(tmp_path) -> None:
    path = _write_csv(
        tmp_path / "short.csv",
        """
date,open,high,low,close,volume
2024-01-02,10,12,9,11,1
""",
    )
    with pytest.raises(MarketDataError, match=r"close \(looked for 'Last'\)"):
        load_table(path, columns={"close": "Last"})


@pytest.mark.parametrize(
    ("text", "date_format"),
    [
        ("not-a-date", None),
        ("2024-01-02", "%m/%d/%Y"),
    ],
)
def test_load_table_unparsable_dates(tmp_path, text: str, date_format: str | None) -> None:
    path = _write_csv(
        tmp_path / "dates.csv",
        f"""
date,open,high,low,close,volume
{text},10,12,9,11,1000
""",
    )
    with pytest.raises(MarketDataError, match=r"cannot parse column 'date' as dates") as caught:
        load_table(path, date_format=date_format)
    assert "date_format" in str(caught.value)


def test_load_table_missing_file(tmp_path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(MarketDataError, match="does not exist"):
        load_table(missing)


def test_load_table_unreadable_file(tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(MarketDataError, match="Cannot read"):
        load_table(empty)
