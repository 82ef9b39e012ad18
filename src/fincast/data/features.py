"""Causal features from daily bars: the value at day t uses data up to t only.

:data:`FEATURES` maps a name to its function. A function with a ``window`` keyword
takes it from the name's numeric suffix: ``rv_cc_20`` is :func:`rv_cc` over a
trailing 20-day window, ``rsi_14`` is :func:`rsi` over 14 days, and a bare
``rv_cc`` uses the function's default window. Every window is trailing and ends at
day t, so a feature never sees a later bar (a property test checks each one).

Volatilities are daily (not annualised) standard deviations of log returns.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from fincast.data.sources import MarketDataError

WEEKDAYS = 5  # trading weekdays, for the day-of-week cycle
PARKINSON = 1.0 / (4.0 * np.log(2.0))
GARMAN_KLASS = 2.0 * np.log(2.0) - 1.0


def price_series(bars: pd.DataFrame, price: str = "adj_close") -> pd.Series:
    """The price column to model: ``adj_close`` when present, else ``close``."""
    if price == "adj_close" and "adj_close" not in bars.columns:
        price = "close"
    if price not in bars.columns:
        raise MarketDataError(f"Price column {price!r} not found; have {', '.join(bars.columns)}.")
    return bars[price]


def _log(series: pd.Series) -> pd.Series:
    return series.astype("float64").apply(np.log)


def log_return(bars: pd.DataFrame, price: str) -> pd.Series:
    """Daily log return ``log(p_t / p_{t-1})``."""
    return _log(price_series(bars, price)).diff()


def log_range(bars: pd.DataFrame, price: str) -> pd.Series:
    """Intraday range ``log(high_t / low_t)``, a volatility proxy."""
    return _log(bars["high"]) - _log(bars["low"])


def volume_change(bars: pd.DataFrame, price: str) -> pd.Series:
    """Change in log volume ``log(1 + v_t) - log(1 + v_{t-1})`` (zero-volume safe)."""
    return bars["volume"].astype("float64").apply(np.log1p).diff()


def rv_cc(bars: pd.DataFrame, price: str, window: int = 20) -> pd.Series:
    """Close-to-close realised volatility: std of the last ``window`` log returns."""
    return log_return(bars, price).rolling(window, min_periods=window).std()


def rv_parkinson(bars: pd.DataFrame, price: str, window: int = 20) -> pd.Series:
    """Parkinson (1980) volatility: ``sqrt(mean(log(H/L)^2) / (4 log 2))`` over ``window`` days."""
    squared = log_range(bars, price) ** 2
    return np.sqrt(PARKINSON * squared.rolling(window, min_periods=window).mean())


def stale_opens(bars: pd.DataFrame) -> pd.Series:
    """Days whose open equals the previous close: the open was not recorded (a data quirk).

    On such days ``log(C/O)`` is the close-to-close move, overnight gap included.
    """
    previous = bars["close"].astype("float64").shift(1)
    return pd.Series(
        np.isclose(bars["open"].astype("float64"), previous, rtol=1e-12, atol=0.0),
        index=bars.index,
    )


def zero_ranges(bars: pd.DataFrame) -> pd.Series:
    """Days whose high equals their low: no intraday range was recorded."""
    return pd.Series(
        np.isclose(
            bars["high"].astype("float64"), bars["low"].astype("float64"), rtol=1e-12, atol=0
        ),
        index=bars.index,
    )


def daily_variance(bars: pd.DataFrame) -> pd.Series:
    """One day's variance: Garman-Klass, or an estimator valid where its inputs are not.

    Garman-Klass (1980), ``0.5 log(H/L)^2 - (2 log 2 - 1) log(C/O)^2``, on ordinary
    days; Parkinson (1980), ``log(H/L)^2 / (4 log 2)``, on stale-open days (the open is
    the previous close, so the body term would carry the overnight move); the squared
    close-to-close log return on zero-range days (high = low: no range to use).
    Never negative.
    """
    high, low = _log(bars["high"]), _log(bars["low"])
    body = _log(bars["close"]) - _log(bars["open"])
    garman_klass = 0.5 * (high - low) ** 2 - GARMAN_KLASS * body**2
    parkinson = PARKINSON * (high - low) ** 2
    close_to_close = _log(bars["close"]).diff() ** 2
    variance = garman_klass.where(~stale_opens(bars), parkinson)
    variance = variance.where(~zero_ranges(bars), close_to_close)
    return variance.clip(lower=0.0).rename("daily_variance")


def rv_gk(bars: pd.DataFrame, price: str, window: int = 20) -> pd.Series:
    """Garman-Klass (1980) volatility over ``window`` days, by :func:`daily_variance`.

    The daily variances (Garman-Klass, Parkinson on stale-open days, squared
    close-to-close returns on zero-range days) are averaged, then the square root.
    """
    return np.sqrt(daily_variance(bars).rolling(window, min_periods=window).mean())


def volume_z(bars: pd.DataFrame, price: str, window: int = 20) -> pd.Series:
    """Z-score of ``log(1 + volume)`` against its last ``window`` days (day t included).

    A window of constant volume has no spread; its z-score is 0.
    """
    volume = bars["volume"].astype("float64").apply(np.log1p)
    rolling = volume.rolling(window, min_periods=window)
    mean, spread = rolling.mean(), rolling.std()
    score = (volume - mean) / spread.where(spread > 1e-12)
    return score.where(spread.isna() | (spread > 1e-12), 0.0)


def sma_ratio(bars: pd.DataFrame, price: str, window: int = 20) -> pd.Series:
    """Price over its trailing ``window``-day simple moving average, minus one."""
    prices = price_series(bars, price).astype("float64")
    return prices / prices.rolling(window, min_periods=window).mean() - 1.0


def rsi(bars: pd.DataFrame, price: str, window: int = 14) -> pd.Series:
    """Relative strength index in ``[0, 100]`` over ``window`` days (simple averages).

    Cutler's variant: plain means of gains and losses, so the value at t depends on
    the last ``window`` returns only (Wilder's smoothing would depend on the whole
    history, and so on where the data happen to start). A flat window scores 50.
    """
    change = price_series(bars, price).astype("float64").diff()
    gains = change.clip(lower=0.0).rolling(window, min_periods=window).mean()
    losses = (-change).clip(lower=0.0).rolling(window, min_periods=window).mean()
    total = gains + losses
    return (100.0 * gains / total.where(total > 0)).where(total.isna() | (total > 0), 50.0)


def _dates(bars: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(bars.index)


def dow_sin(bars: pd.DataFrame, price: str) -> pd.Series:
    """Day of the week on a 5-day cycle: ``sin(2 pi weekday / 5)`` (Monday = 0)."""
    angle = 2.0 * np.pi * _dates(bars).day_of_week.to_numpy() / WEEKDAYS
    return pd.Series(np.sin(angle), index=bars.index)


def dow_cos(bars: pd.DataFrame, price: str) -> pd.Series:
    """Day of the week on a 5-day cycle: ``cos(2 pi weekday / 5)`` (Monday = 0)."""
    angle = 2.0 * np.pi * _dates(bars).day_of_week.to_numpy() / WEEKDAYS
    return pd.Series(np.cos(angle), index=bars.index)


def month_end(bars: pd.DataFrame, price: str) -> pd.Series:
    """1.0 on the last weekday of a month, else 0.0.

    Known from the date alone (exchange holidays are ignored), so it never peeks at
    the next bar and is the same when training and when forecasting.
    """
    dates = _dates(bars)
    last_weekday = dates + pd.offsets.BMonthEnd(0)
    return pd.Series(
        (dates.normalize() == last_weekday.normalize()).astype("float64"), index=bars.index
    )


FEATURES: dict[str, Callable[..., pd.Series]] = {
    "log_return": log_return,
    "log_range": log_range,
    "volume_change": volume_change,
    "rv_cc": rv_cc,
    "rv_parkinson": rv_parkinson,
    "rv_gk": rv_gk,
    "volume_z": volume_z,
    "sma_ratio": sma_ratio,
    "rsi": rsi,
    "dow_sin": dow_sin,
    "dow_cos": dow_cos,
    "month_end": month_end,
}
WINDOWED = frozenset(
    name
    for name, function in FEATURES.items()
    if "window" in inspect.signature(function).parameters
)
_SUFFIX = re.compile(r"^(?P<base>.+)_(?P<window>\d+)$")


def _parse(name: str) -> tuple[str, int | None] | None:
    if name in FEATURES:
        return name, None
    match = _SUFFIX.match(name)
    if match and match["base"] in WINDOWED:
        return match["base"], int(match["window"])
    return None


def _unknown_message(names: Sequence[str]) -> str:
    return (
        f"Unknown feature(s) {', '.join(names)}; available: {', '.join(FEATURES)} "
        f"(with a trailing window for {', '.join(sorted(WINDOWED))}, e.g. rv_cc_20)."
    )


def resolve_feature(name: str) -> tuple[Callable[..., pd.Series], dict[str, int]]:
    """The function and keyword arguments that compute feature ``name``.

    >>> function, kwargs = resolve_feature("rv_cc_20")
    >>> function.__name__, kwargs
    ('rv_cc', {'window': 20})

    Raises:
        MarketDataError: an unknown name (the message lists the known ones and how
            to give a window), or a window below 2 days.
    """
    parsed = _parse(name)
    if parsed is None:
        raise MarketDataError(_unknown_message([name]))
    base, window = parsed
    if window is None:
        return FEATURES[base], {}
    if window < 2:
        raise MarketDataError(f"Feature {name!r}: the window must be at least 2 days.")
    return FEATURES[base], {"window": window}


def make_features(
    bars: pd.DataFrame, names: Sequence[str], *, price: str = "adj_close"
) -> pd.DataFrame:
    """Compute the named features, dropping the leading rows they cannot fill.

    Raises:
        MarketDataError: an unknown feature name (the message lists the known ones).
    """
    unknown = [name for name in names if _parse(name) is None]
    if unknown:
        raise MarketDataError(_unknown_message(unknown))
    columns = {}
    for name in names:
        function, kwargs = resolve_feature(name)
        columns[name] = function(bars, price, **kwargs)
    frame = pd.DataFrame(columns, index=bars.index).replace([np.inf, -np.inf], np.nan)
    return frame.dropna().astype("float32")
