"""Causal features from daily bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincast.data.features import FEATURES, log_return, make_features, price_series
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
        make_features(_hand_bars(), ["log_return", "rsi_14", "macd"])
    message = str(caught.value)
    assert "rsi_14" in message and "macd" in message
    for name in FEATURES:
        assert name in message


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


positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(min_value=3, max_value=40),
    seed=st.integers(min_value=0, max_value=2**16),
    names=st.lists(st.sampled_from(sorted(FEATURES)), min_size=1, max_size=3, unique=True),
    price=st.sampled_from(["adj_close", "close"]),
    last=st.tuples(
        positive, positive, positive, positive, positive, st.floats(min_value=0, max_value=1e9)
    ),
)
def test_changing_the_last_bar_never_changes_earlier_features(rows, seed, names, price, last):
    bars = _random_bars(rows, seed)
    changed = bars.copy()
    changed.iloc[-1] = list(last)
    before = make_features(bars, names, price=price)
    after = make_features(changed, names, price=price)
    earlier = before.index[before.index < bars.index[-1]]
    assert len(earlier) >= rows - 2
    pd.testing.assert_frame_equal(after.loc[earlier], before.loc[earlier])


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_feature_is_causal_row_by_row(name: str) -> None:
    """The feature at day t computed from bars[:t+1] equals the full-history value."""
    bars = _random_bars(15, seed=3)
    full = make_features(bars, [name])
    for end in range(3, len(bars) + 1):
        prefix = make_features(bars.iloc[:end], [name])
        pd.testing.assert_frame_equal(prefix, full.loc[prefix.index])
