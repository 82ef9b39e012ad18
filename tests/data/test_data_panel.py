"""The (ticker, date) panel: stacking, splitting, and reading a whole cache at once."""

from __future__ import annotations

import pandas as pd
import pytest

from fincast.data import cache
from fincast.data.panel import from_panel, read_panel, to_panel
from fincast.data.sources import MarketDataError


@pytest.fixture
def bars(make_bars) -> dict[str, pd.DataFrame]:
    return {
        "MSFT": make_bars(6, start="2024-01-02", seed=1),
        "^GSPC": make_bars(4, start="2024-01-04", seed=2),
        "AAPL": make_bars(5, start="2023-12-27", seed=3, adj_close=False),
    }


def test_to_panel_stacks_in_the_given_order(bars) -> None:
    panel = to_panel(bars)
    assert panel.index.names == ["ticker", "date"]
    assert list(panel.index.get_level_values("ticker").unique()) == ["MSFT", "^GSPC", "AAPL"]
    assert len(panel) == 6 + 4 + 5
    assert list(panel.columns) == ["open", "high", "low", "close", "adj_close", "volume"]
    assert panel.loc["AAPL", "adj_close"].isna().all()  # absent for AAPL
    pd.testing.assert_frame_equal(
        panel.loc["MSFT"], bars["MSFT"], check_freq=False, check_names=False
    )


def test_round_trip_gives_back_the_same_bars(bars) -> None:
    restored = from_panel(to_panel(bars))
    assert list(restored) == list(bars)
    for ticker, frame in bars.items():
        pd.testing.assert_frame_equal(restored[ticker], frame, check_freq=False)


def test_empty_panel_round_trip() -> None:
    panel = to_panel({})
    assert panel.empty and panel.index.names == ["ticker", "date"]
    assert from_panel(panel) == {}


def test_from_panel_refuses_a_flat_frame(make_bars) -> None:
    with pytest.raises(MarketDataError, match=r"\(ticker, date\) MultiIndex.*\['date'\]"):
        from_panel(make_bars(3))


def test_read_panel_equals_the_stacked_cache(tmp_path, bars) -> None:
    for ticker, frame in bars.items():
        cache.write_bars(tmp_path, ticker, frame, source="test")
    panel = read_panel(tmp_path, list(bars))
    expected = to_panel(bars)
    pd.testing.assert_frame_equal(
        panel.reset_index().astype({"ticker": str}),
        expected.reset_index(),
        check_dtype=False,
    )
    restored = from_panel(panel)
    for ticker, frame in bars.items():
        pd.testing.assert_frame_equal(restored[ticker], frame, check_freq=False)


@pytest.mark.parametrize("use_threads", [True, False])
def test_read_panel_keeps_the_requested_order(tmp_path, bars, use_threads: bool) -> None:
    for ticker, frame in bars.items():
        cache.write_bars(tmp_path, ticker, frame, source="test")
    order = ["AAPL", "^GSPC", "MSFT"]
    panel = read_panel(tmp_path, order, use_threads=use_threads)
    assert list(panel.index.get_level_values("ticker").unique()) == order
    pd.testing.assert_frame_equal(
        panel.loc["^GSPC"], bars["^GSPC"], check_freq=False, check_names=False
    )


def test_read_panel_defaults_to_every_cached_ticker(tmp_path, bars) -> None:
    for ticker, frame in bars.items():
        cache.write_bars(tmp_path, ticker, frame, source="test")
    panel = read_panel(tmp_path)
    assert list(panel.index.get_level_values("ticker").unique()) == ["AAPL", "MSFT", "^GSPC"]


def test_read_panel_names_missing_tickers(tmp_path, bars) -> None:
    cache.write_bars(tmp_path, "MSFT", bars["MSFT"], source="test")
    with pytest.raises(MarketDataError, match=r"Not in the cache.*NOPE.*fincast-fetch"):
        read_panel(tmp_path, ["MSFT", "NOPE"])


def test_read_panel_of_an_empty_cache(tmp_path) -> None:
    assert read_panel(tmp_path).empty


def test_read_panel_columns_do_not_depend_on_which_file_comes_first(tmp_path, bars) -> None:
    for ticker, frame in bars.items():
        cache.write_bars(tmp_path, ticker, frame, source="test")
    for order in (["AAPL", "MSFT"], ["MSFT", "AAPL"]):
        panel = read_panel(tmp_path, order)
        assert list(panel.columns) == ["open", "high", "low", "close", "adj_close", "volume"]
        assert panel.loc["AAPL", "adj_close"].isna().all()
