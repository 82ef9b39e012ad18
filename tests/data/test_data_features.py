"""Causal features from daily bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincast.data.features import (
    FEATURES,
    WINDOWED,
    log_return,
    make_features,
    price_series,
    resolve_feature,
)
from fincast.data.sources import MarketDataError


def _hand_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], name="date")
    return pd.DataFrame(
        {
            "open": [100.0, 110.0, 99.0, 120.0],
            "high": [105.0, 112.0, 110.0, 125.0],
            "low": [95.0, 100.0, 90.0, 100.0],
            "close": [100.0, 110.0, 99.0, 121.0],
            "adj_close": [50.0, 56.0, 49.5, 60.5],
            "volume": [0.0, 100.0, 50.0, 50.0],
        },
        index=index,
    )


def test_log_return_hand_case() -> None:
    bars = _hand_bars()
    close = log_return(bars, "close")
    assert np.isnan(close.iloc[0])
    expected = [np.log(110 / 100), np.log(99 / 110), np.log(121 / 99)]
    np.testing.assert_allclose(close.iloc[1:].to_numpy(), expected, rtol=1e-12)
    adjusted = log_return(bars, "adj_close")
    np.testing.assert_allclose(
        adjusted.iloc[1:].to_numpy(), [np.log(56 / 50), np.log(49.5 / 56), np.log(60.5 / 49.5)]
    )


def test_make_features_hand_case() -> None:
    bars = _hand_bars()
    features = make_features(bars, ["log_return", "log_range", "volume_change"], price="close")
    assert list(features.columns) == ["log_return", "log_range", "volume_change"]
    assert list(features.index) == list(bars.index[1:])  # first row cannot be filled
    assert all(dtype == np.float32 for dtype in features.dtypes)
    np.testing.assert_allclose(features["log_return"], np.log([1.1, 99 / 110, 121 / 99]), rtol=1e-6)
    np.testing.assert_allclose(
        features["log_range"], np.log([112 / 100, 110 / 90, 125 / 100]), rtol=1e-6
    )
    np.testing.assert_allclose(
        features["volume_change"], [np.log(101), np.log(51 / 101), 0.0], rtol=1e-6, atol=1e-7
    )


def test_only_leading_rows_dropped_for_range_only() -> None:
    features = make_features(_hand_bars(), ["log_range"])
    assert len(features) == 4


def test_adj_close_fallback_to_close() -> None:
    bars = _hand_bars().drop(columns="adj_close")
    pd.testing.assert_series_equal(price_series(bars), bars["close"])
    with_fallback = make_features(bars, ["log_return"])  # price defaults to adj_close
    explicit = make_features(bars, ["log_return"], price="close")
    pd.testing.assert_frame_equal(with_fallback, explicit)


def test_adj_close_preferred_when_present() -> None:
    bars = _hand_bars()
    pd.testing.assert_series_equal(price_series(bars), bars["adj_close"])
    assert not make_features(bars, ["log_return"]).equals(
        make_features(bars, ["log_return"], price="close")
    )


def test_missing_price_column_names_available_columns() -> None:
    with pytest.raises(MarketDataError, match=r"'vwap' not found.*open, high"):
        price_series(_hand_bars(), "vwap")


def test_unknown_feature_lists_available_ones() -> None:
    with pytest.raises(MarketDataError) as caught:
        make_features(_hand_bars(), ["log_return", "macd", "rsi_x", "log_return_5"])
    message = str(caught.value)
    assert "macd, rsi_x, log_return_5" in message and "e.g. rv_cc_20" in message
    for name in FEATURES:
        assert name in message


def test_windowed_names_resolve_to_their_function_and_window() -> None:
    assert resolve_feature("rv_parkinson_10") == (FEATURES["rv_parkinson"], {"window": 10})
    assert resolve_feature("rsi") == (FEATURES["rsi"], {})
    assert resolve_feature("volume_z_63")[1] == {"window": 63}
    assert sorted(WINDOWED) == ["rsi", "rv_cc", "rv_gk", "rv_parkinson", "sma_ratio", "volume_z"]
    with pytest.raises(MarketDataError, match="at least 2 days"):
        make_features(_hand_bars(), ["rv_cc_1"])


def _random_bars(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.02, rows)))
    open_ = close * np.exp(rng.normal(0, 0.01, rows))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(rng.uniform(0, 0.02, rows)),
            "low": np.minimum(open_, close) * np.exp(-rng.uniform(0, 0.02, rows)),
            "close": close,
            "adj_close": close * 0.9,
            "volume": rng.integers(0, 10_000, rows).astype("float64"),
        },
        index=pd.bdate_range("2020-01-01", periods=rows, name="date"),
    )


# Every registered feature, windowed ones with a short window so the tests stay fast.
ALL_FEATURES = sorted(f"{name}_3" if name in WINDOWED else name for name in FEATURES)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(min_value=8, max_value=40),
    seed=st.integers(min_value=0, max_value=2**16),
    other_seed=st.integers(min_value=0, max_value=2**16),
    cut=st.floats(min_value=0.0, max_value=1.0),
    price=st.sampled_from(["adj_close", "close"]),
)
def test_changing_any_data_after_day_t_never_changes_features_up_to_t(
    rows, seed, other_seed, cut, price
):
    """Rewrite every bar after day t (prices, ranges, volumes): no feature at or before t moves."""
    bars = _random_bars(rows, seed)
    t = int(cut * (rows - 1))
    other = _random_bars(rows, other_seed) * np.exp(np.random.default_rng(other_seed).normal())
    changed = bars.copy()
    changed.iloc[t + 1 :] = other.iloc[t + 1 :].to_numpy()
    before = make_features(bars, ALL_FEATURES, price=price)
    after = make_features(changed, ALL_FEATURES, price=price)
    day = bars.index[t]
    pd.testing.assert_frame_equal(after.loc[:day], before.loc[:day])


@pytest.mark.parametrize("name", ALL_FEATURES)
def test_every_feature_is_causal_row_by_row(name: str) -> None:
    """The feature at day t computed from bars[:t+1] equals the full-history value."""
    bars = _random_bars(15, seed=3)
    full = make_features(bars, [name])
    for end in range(3, len(bars) + 1):
        prefix = make_features(bars.iloc[:end], [name])
        pd.testing.assert_frame_equal(prefix, full.loc[prefix.index])


def _prices(values: list[float], start: str = "2024-01-01") -> pd.DataFrame:
    close = np.asarray(values, dtype=float)
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close},
        index=pd.bdate_range(start, periods=len(close), name="date"),
    ).assign(volume=1000.0)


def test_realised_volatility_estimators_hand_case() -> None:
    bars = _random_bars(30, seed=7)
    features = make_features(bars, ["rv_cc_5", "rv_parkinson_5", "rv_gk_5"], price="close")
    returns = np.log(bars["close"]).diff().to_numpy()
    high_low = np.log(bars["high"] / bars["low"]).to_numpy()
    body = np.log(bars["close"] / bars["open"]).to_numpy()
    t = 20  # the row of day t in bars
    day = bars.index[t]
    assert features.loc[day, "rv_cc_5"] == pytest.approx(np.std(returns[t - 4 : t + 1], ddof=1))
    parkinson = np.sqrt(np.mean(high_low[t - 4 : t + 1] ** 2) / (4 * np.log(2)))
    assert features.loc[day, "rv_parkinson_5"] == pytest.approx(parkinson, rel=1e-6)
    gk_daily = 0.5 * high_low**2 - (2 * np.log(2) - 1) * body**2
    gk = np.sqrt(np.mean(gk_daily[t - 4 : t + 1]))
    assert features.loc[day, "rv_gk_5"] == pytest.approx(gk, rel=1e-6)
    # rv_cc needs 5 returns, so 6 prices: its first value is on row 5.
    assert features.index[0] == bars.index[5]


def test_rsi_hand_cases() -> None:
    rising_then_falling = make_features(_prices([1, 2, 3, 2]), ["rsi_3"], price="close")
    assert rising_then_falling["rsi_3"].iloc[-1] == pytest.approx(100 * 2 / 3, rel=1e-6)
    assert make_features(_prices([1, 2, 3, 4]), ["rsi_3"])["rsi_3"].iloc[-1] == 100.0
    assert make_features(_prices([5, 5, 5, 5]), ["rsi_3"])["rsi_3"].iloc[-1] == 50.0


def test_sma_ratio_and_volume_z_hand_cases() -> None:
    bars = _prices([10, 20, 30, 40])
    sma = make_features(bars, ["sma_ratio_2"])["sma_ratio_2"]
    np.testing.assert_allclose(sma, [20 / 15 - 1, 30 / 25 - 1, 40 / 35 - 1], rtol=1e-6)
    bars["volume"] = [100.0, 100.0, 100.0, 400.0]
    z = make_features(bars, ["volume_z_3"])["volume_z_3"]
    logs = np.log1p([100.0, 100.0, 400.0])
    assert z.iloc[0] == 0.0  # a flat window has no spread: z-score 0, not a dropped row
    assert z.iloc[1] == pytest.approx((logs[-1] - logs.mean()) / logs.std(ddof=1), rel=1e-6)


def test_calendar_features() -> None:
    bars = _prices([1.0] * 25, start="2024-05-27")  # Monday 2024-05-27 .. Friday 2024-06-28
    features = make_features(bars, ["dow_sin", "dow_cos", "month_end"])
    monday, friday = features.loc["2024-05-27"], features.loc["2024-05-31"]
    assert (monday["dow_sin"], monday["dow_cos"]) == (0.0, 1.0)
    assert friday["dow_sin"] == pytest.approx(np.sin(2 * np.pi * 4 / 5))
    ends = features.index[features["month_end"] == 1.0]
    assert [day.date().isoformat() for day in ends] == ["2024-05-31", "2024-06-28"]
