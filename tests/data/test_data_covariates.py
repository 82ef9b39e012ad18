"""Covariates: the universe's and sector's mean returns (past only) and the calendar of the
horizon (known in advance), checked against independent computations and for leakage."""

from __future__ import annotations

import exchange_calendars
import numpy as np
import pandas as pd
import pytest

from fincast.data.covariates import (
    check_covariates,
    covariate_columns,
    future_covariates,
)
from fincast.data.loading import load_bars
from fincast.data.recipe import FeatureRecipe
from fincast.data.sources import MarketDataError
from fincast.data.universe import ticker_sectors

TICKERS = ["AAPL", "AMZN", "MSFT", "GOOG", "XOM", "CVX"]  # two sectors and one more
ALL = ["market_return", "sector_return", "future_day_of_week", "future_month_end"]
ALL.append("sessions_to_holiday")


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    return load_bars("stocknet", TICKERS, strict=False)


def _recipe(horizon: int = 3, tickers: list[str] = TICKERS) -> FeatureRecipe:
    return FeatureRecipe(
        names=["log_return", "log_range"],
        covariates=ALL,
        horizon=horizon,
        universe=tickers,
        sectors=ticker_sectors("stocknet", tickers),
    )


def test_columns_are_features_then_covariates() -> None:
    assert _recipe(2).columns == [
        "log_return",
        "log_range",
        "market_return",
        "sector_return",
        "future_day_of_week_1",
        "future_day_of_week_2",
        "future_month_end_1",
        "future_month_end_2",
        "sessions_to_holiday",
    ]
    assert covariate_columns([], 5) == []
    with pytest.raises(ValueError, match="unknown 'vix'; known: market_return"):
        check_covariates(["vix"])


def test_market_and_sector_means_equal_a_direct_computation(bars: dict) -> None:
    frames = _recipe().frames(bars)
    sectors = ticker_sectors("stocknet", TICKERS)
    closes = pd.concat({t: bars[t]["adj_close"] for t in TICKERS}, axis=1)
    returns = np.log(closes.astype("float64")).diff()
    for ticker in ("MSFT", "XOM"):
        frame = frames[ticker]
        expected_market = returns.loc[frame.index].mean(axis=1)
        np.testing.assert_allclose(frame["market_return"], expected_market, rtol=2e-6, atol=1e-8)
        peers = [name for name in TICKERS if sectors[name] == sectors[ticker]]
        assert len(peers) >= 2
        expected_sector = returns.loc[frame.index, peers].mean(axis=1)
        np.testing.assert_allclose(frame["sector_return"], expected_sector, rtol=2e-6, atol=1e-8)


def test_future_calendar_is_the_exchanges_next_sessions() -> None:
    dates = pd.DatetimeIndex(["2016-12-22", "2017-06-30", "2017-07-03", "2017-08-30"])
    frame = future_covariates(dates, ALL[2:], 3, "XNYS")
    calendar = exchange_calendars.get_calendar("XNYS", start="2016-01-01", end="2018-12-31")
    sessions = pd.DatetimeIndex(calendar.sessions).tz_localize(None)
    for date in dates:
        following = sessions[sessions > date][:3]
        assert frame.loc[date, ["future_day_of_week_1", "future_day_of_week_2"]].tolist() == [
            following[0].day_of_week,
            following[1].day_of_week,
        ]
        month_ends = [float(s.month != sessions[sessions > s][0].month) for s in following]
        assert frame.loc[date, [f"future_month_end_{k}" for k in (1, 2, 3)]].tolist() == month_ends
    # 2016-12-22 (Thu): one session (Fri 23rd) before Christmas, observed Monday the 26th;
    # 2017-06-30 (Fri): one session (Mon 3rd) before July 4th; 2017-07-03: none.
    assert frame["sessions_to_holiday"].tolist()[:3] == [1.0, 1.0, 0.0]
    # 2017-08-30: Thu 31, Fri 1 September, then Labor Day (Mon 4th).
    assert frame.loc["2017-08-30", "sessions_to_holiday"] == 2.0
    assert frame.loc["2017-08-30", "future_month_end_1"] == 1.0  # the 31st ends August


def test_covariates_never_see_a_later_bar(bars: dict) -> None:
    """Cut every ticker's bars at a date: every row up to it stays exactly the same."""
    recipe = _recipe()
    full = recipe.frames(bars)
    for cut in ("2014-03-14", "2016-06-28", "2017-01-03"):
        truncated = recipe.frames({t: frame.loc[:cut] for t, frame in bars.items()})
        for ticker in TICKERS:
            pd.testing.assert_frame_equal(
                truncated[ticker], full[ticker].loc[: truncated[ticker].index[-1]]
            )


def test_a_missing_universe_ticker_is_named(bars: dict) -> None:
    recipe = _recipe()
    partial = {ticker: bars[ticker] for ticker in TICKERS[:2]}
    with pytest.raises(MarketDataError, match="bars of MSFT, GOOG, XOM, CVX are missing"):
        recipe.frames(partial)
    # calendar covariates alone need no other ticker
    calendar_only = FeatureRecipe(names=["log_return"], covariates=ALL[2:], horizon=2)
    assert list(calendar_only.frames(partial)["AAPL"].columns)[-1] == "sessions_to_holiday"


def test_the_card_rebuilds_the_same_columns(bars: dict) -> None:
    recipe = _recipe()
    card = {"features": recipe.names, "horizon": 3, "calendar": "XNYS", **recipe.card()}
    rebuilt = FeatureRecipe.of_card(card)
    assert rebuilt == recipe
    pd.testing.assert_frame_equal(rebuilt.frames(bars)["MSFT"], recipe.frames(bars)["MSFT"])
    plain = FeatureRecipe.of_card({"features": ["log_return"], "horizon": 3})
    assert plain.columns == ["log_return"] and not plain.needs_universe


def test_a_ticker_outside_the_universe_gets_the_universes_means(bars: dict) -> None:
    """Forecasting a stock the model never saw: its sector has no peer, so the market's mean."""
    universe = ["MSFT", "GOOG"]
    recipe = _recipe(tickers=universe)
    frame = recipe.frames(bars, ["XOM"])["XOM"]
    assert len(frame) > 1000
    np.testing.assert_array_equal(frame["sector_return"], frame["market_return"])
    msft = recipe.frames(bars, ["MSFT"])["MSFT"]
    common = frame.index.intersection(msft.index)
    np.testing.assert_array_equal(
        frame.loc[common, "market_return"], msft.loc[common, "market_return"]
    )


def test_an_ad_hoc_closure_was_not_known_in_advance() -> None:
    """Hurricane Sandy closed the NYSE on 2012-10-29 and 30, announced on the 28th: on the
    24th the horizon's calendar still holds them as sessions."""
    frame = future_covariates(pd.DatetimeIndex(["2012-10-24"]), ALL[2:], 5, "XNYS")
    weekdays = frame.loc["2012-10-24", [f"future_day_of_week_{k}" for k in range(1, 6)]]
    assert weekdays.tolist() == [3, 4, 0, 1, 2]  # Thu 25, Fri 26, Mon 29, Tue 30, Wed 31
    assert frame.loc["2012-10-24", "sessions_to_holiday"] == 20.0  # Thanksgiving: far off


def test_a_ticker_outside_the_universe_gets_its_own_sectors_mean(bars: dict) -> None:
    """GOOG is not in the universe, but MSFT of its sector (Technology) is."""
    universe = ["MSFT", "XOM", "CVX"]
    recipe = _recipe(tickers=universe)
    card = {"features": recipe.names, "horizon": 3, "data_source": "stocknet", **recipe.card()}
    card["tickers"] = universe
    served = FeatureRecipe.of_card(card)
    goog = served.frames(bars, ["GOOG"])["GOOG"]
    msft = served.frames(bars, ["MSFT"])["MSFT"]
    common = goog.index.intersection(msft.index)
    np.testing.assert_array_equal(
        goog.loc[common, "sector_return"], msft.loc[common, "sector_return"]
    )


def test_a_ticker_the_model_did_not_train_on_has_the_unknown_ticker_id() -> None:
    universe = ["GMRE", "MSFT", "XOM"]
    sectors = ticker_sectors("stocknet", universe)
    vocabularies = {"ticker": sorted(universe), "sector": sorted(set(sectors.values()))}
    recipe = FeatureRecipe(
        names=["log_return"],
        universe=universe,
        sectors=sectors,
        identities=["ticker", "sector"],
        vocabularies=vocabularies,
        source="stocknet",
    )
    assert recipe.identity_of("GMRE")["ticker_id"] == 1.0  # training: its own id
    card = {"features": ["log_return"], "data_source": "stocknet", "tickers": ["MSFT", "XOM"]}
    served = FeatureRecipe.of_card({**card, **recipe.card()})
    assert served.identity_of("GMRE")["ticker_id"] == 0.0  # left out of the fit: unknown
    assert served.identity_of("MSFT") == recipe.identity_of("MSFT")
    technology = vocabularies["sector"].index("Technology") + 1.0
    assert served.identity_of("GOOG") == {"ticker_id": 0.0, "sector_id": technology}
