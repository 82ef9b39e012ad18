"""Causal features from daily bars: the value at day t uses data up to t only."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from fincast.data.sources import MarketDataError


def price_series(bars: pd.DataFrame, price: str = "adj_close") -> pd.Series:
    """The price column to model: ``adj_close`` when present, else ``close``."""
    if price == "adj_close" and "adj_close" not in bars.columns:
        price = "close"
    if price not in bars.columns:
        raise MarketDataError(f"Price column {price!r} not found; have {', '.join(bars.columns)}.")
    return bars[price]


def log_return(bars: pd.DataFrame, price: str) -> pd.Series:
    """Daily log return ``log(p_t / p_{t-1})``."""
    prices = price_series(bars, price).astype("float64")
    return prices.apply(np.log).diff()


def log_range(bars: pd.DataFrame, price: str) -> pd.Series:
    """Intraday range ``log(high_t / low_t)``, a volatility proxy."""
    return pd.Series(np.log(bars["high"] / bars["low"]), index=bars.index)


def volume_change(bars: pd.DataFrame, price: str) -> pd.Series:
    """Change in log volume ``log(1 + v_t) - log(1 + v_{t-1})`` (zero-volume safe)."""
    return np.log1p(bars["volume"]).diff()


FEATURES: dict[str, Callable[[pd.DataFrame, str], pd.Series]] = {
    "log_return": log_return,
    "log_range": log_range,
    "volume_change": volume_change,
}


def make_features(
    bars: pd.DataFrame, names: Sequence[str], *, price: str = "adj_close"
) -> pd.DataFrame:
    """Compute the named features, dropping the leading rows they cannot fill.

    Raises:
        MarketDataError: an unknown feature name (the message lists the known ones).
    """
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise MarketDataError(
            f"Unknown feature(s) {', '.join(unknown)}; available: {', '.join(FEATURES)}."
        )
    columns = {name: FEATURES[name](bars, price) for name in names}
    frame = pd.DataFrame(columns, index=bars.index).replace([np.inf, -np.inf], np.nan)
    return frame.dropna().astype("float32")
