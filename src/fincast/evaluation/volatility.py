"""Volatility baselines with the model's interface: a fold in, ``(n, horizon)`` forecasts out.

Every forecast is the annualised volatility over the next ``k`` days, ``k = 1..h``
(the volatility task's target, see :mod:`fincast.evaluation.targets`). Parameters
are fitted on the fold's training period; the variance at each test origin is
filtered from data up to that origin only.

- ``persistence`` (the volatility task's ``naive``): the realised volatility of the
  last ``k`` days, forecast for the next ``k`` days (a random walk in volatility).
- ``ewma``: RiskMetrics (J.P. Morgan, 1996), ``s2_t = lambda s2_{t-1} + (1 - lambda) r_t^2``,
  lambda 0.94, flat over the horizon.
- ``garch``: GARCH(1,1) with a constant mean, fitted by the ``arch`` package.
- EWMA and GARCH model close-to-close returns, overnight moves included, while the
  target is the intraday Garman-Klass estimator: both are level-calibrated on the
  training period only (their variances times ``mean(GK) / mean(r^2)`` of the training
  days), so they are scored in the target's units.
- ``har``: Corsi's (2009) HAR on Garman-Klass daily variance: the mean variance over
  the next ``k`` days regressed on the last day's, week's and month's mean variance,
  one least-squares fit per step.
- ``log_har``: HAR on log variances, with the lognormal bias correction
  ``exp(fit + s^2 / 2)`` (``s^2``: the fit's residual variance).
- ``har_rolling``: HAR fitted on the latest ``HAR_WINDOW`` (1000) training days only
  (Audrino & Chassot, 2024: a well-windowed HAR is hard to beat).

>>> import numpy as np
>>> ewma_variance(np.array([0.1, 0.0]), lam=0.5, initial=0.02).round(4).tolist()
[0.015, 0.0075]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fincast.evaluation.folds import Fold
from fincast.evaluation.targets import TRADING_DAYS, cumulative_volatility

RISKMETRICS_LAMBDA = 0.94
HAR_LAGS = (1, 5, 22)
PERCENT = 100.0  # arch fits returns in percent (better conditioned)
MIN_DAILY_VARIANCE = 1e-10
HAR_WINDOW = 1000


def ewma_variance(returns: np.ndarray, *, lam: float, initial: float) -> np.ndarray:
    """One-day-ahead EWMA variance after each day: ``s2_t = lam s2_{t-1} + (1 - lam) r_t^2``.

    Args:
        returns: daily returns, oldest first.
        lam: decay in ``(0, 1)``.
        initial: ``s2`` before the first return.
    """
    if not 0 < lam < 1:
        raise ValueError(f"lam must be in (0, 1). Received: lam={lam}")
    squared = np.asarray(returns, "float64") ** 2
    from scipy.signal import lfilter  # 0.8 s to import: only where a filter runs

    filtered, _ = lfilter([1 - lam], [1, -lam], squared, zi=[lam * initial])
    return np.asarray(filtered)


def persistence_volatility(
    variance: pd.Series, origins: pd.DatetimeIndex, horizon: int
) -> np.ndarray:
    """Realised volatility of the last ``k`` days up to each origin, for ``k = 1..horizon``.

    >>> days = pd.bdate_range("2024-01-01", periods=3)
    >>> variance = pd.Series([4e-4, 1e-4, 1e-4], days)
    >>> persistence_volatility(variance, days[-1:], 2).astype(float).round(4).tolist()
    [[0.1587, 0.1587]]
    """
    positions = variance.index.get_indexer(origins)
    if (positions < horizon - 1).any():
        raise ValueError(f"An origin has fewer than {horizon} days of history before it.")
    values = variance.to_numpy("float64")
    recent = np.stack([values[positions - lag] for lag in range(horizon)], axis=1)
    return cumulative_volatility(recent).astype("float32")


def persistence(fold: Fold) -> np.ndarray:
    """Naive volatility forecast: the last ``k`` days' realised volatility for the next ``k``."""
    return persistence_volatility(fold.daily["gk_variance"], fold.origins, fold.horizon)


def _flat(daily_variance: np.ndarray, horizon: int) -> np.ndarray:
    repeated = np.repeat(np.asarray(daily_variance)[:, None], horizon, axis=1)
    return cumulative_volatility(repeated).astype("float32")


def ewma(fold: Fold, lam: float = RISKMETRICS_LAMBDA) -> np.ndarray:
    """RiskMetrics EWMA volatility, seeded with the training period's return variance."""
    returns = fold.daily["log_return"].fillna(0.0)
    initial = float(fold.history()["log_return"].dropna().var())
    variance = pd.Series(ewma_variance(returns.to_numpy(), lam=lam, initial=initial), returns.index)
    calibrated = variance.loc[fold.origins].to_numpy() * level_calibration(fold.history())
    return _flat(calibrated, fold.horizon)


def level_calibration(history: pd.DataFrame) -> float:
    """``mean(GK variance) / mean(squared log return)`` over the training days.

    Close-to-close variance includes the overnight move, the Garman-Klass target does
    not; this factor (from the training period only) puts EWMA and GARCH forecasts in
    the target's units.

    >>> history = pd.DataFrame({"gk_variance": [1e-4, 1e-4], "log_return": [0.02, 0.0]})
    >>> round(level_calibration(history), 6)
    0.5
    """
    squared = float((history["log_return"].dropna() ** 2).mean())
    gk = float(history["gk_variance"].dropna().mean())
    return gk / squared if squared > 0 and gk > 0 else 1.0


def garch_variance_paths(fold: Fold) -> np.ndarray:
    """GARCH(1,1) daily variance forecasts for steps ``1..h`` at each origin, ``(n, h)``.

    Fitted on the training period (``last_obs``); the forecasts at later origins
    filter the data up to each origin with those fixed parameters.
    """
    try:
        from arch import arch_model
    except ModuleNotFoundError:
        raise ValueError(
            "The garch baseline needs the arch package: pip install arch (it comes with "
            "fincast[dev]), or leave it out: evaluation.baselines=[ewma,har]."
        ) from None
    returns = fold.daily["log_return"].dropna() * PERCENT
    model = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1, dist="normal")
    fitted_rows = int((returns.index <= fold.train_end).sum())
    result = model.fit(last_obs=fitted_rows, disp="off", show_warning=False)
    first = int(returns.index.get_indexer(fold.origins[:1])[0])
    forecast = result.forecast(horizon=fold.horizon, start=first, reindex=False)
    paths = forecast.variance.reindex(fold.origins).to_numpy("float64")
    return paths / PERCENT**2


def garch(fold: Fold) -> np.ndarray:
    """GARCH(1,1) volatility over the next ``k`` days, ``k = 1..h`` (level-calibrated)."""
    paths = garch_variance_paths(fold) * level_calibration(fold.history())
    return cumulative_volatility(paths).astype("float32")


def har_features(variance: pd.Series) -> pd.DataFrame:
    """HAR regressors at each day: mean variance over the last 1, 5 and 22 days.

    >>> har_features(pd.Series([1.0] * 21 + [23.0])).iloc[-1].tolist()
    [23.0, 5.4, 2.0]
    """
    return pd.DataFrame(
        {f"rv_{lag}": variance.rolling(lag).mean() for lag in HAR_LAGS}, index=variance.index
    )


def har_targets(variance: pd.Series, horizon: int) -> pd.DataFrame:
    """Mean variance over the next ``k`` days after each day, for ``k = 1..horizon``."""
    future = {k: variance[::-1].rolling(k).mean()[::-1].shift(-1) for k in range(1, horizon + 1)}
    return pd.DataFrame(future, index=variance.index)


def har_fit(variance: pd.Series, horizon: int) -> np.ndarray:
    """Least-squares HAR coefficients per step, ``(horizon, 4)``: intercept, day, week, month."""
    features, targets = har_features(variance), har_targets(variance, horizon)
    rows = []
    for step in range(1, horizon + 1):
        usable = features.notna().all(axis=1) & targets[step].notna()
        if usable.sum() < 2 * len(HAR_LAGS) + 2:
            raise ValueError(f"HAR needs more history; {int(usable.sum())} usable days.")
        design = np.column_stack([np.ones(int(usable.sum())), features[usable].to_numpy()])
        coefficients, *_ = np.linalg.lstsq(design, targets.loc[usable, step].to_numpy(), rcond=None)
        rows.append(coefficients)
    return np.asarray(rows)


def har(fold: Fold, window: int | None = None) -> np.ndarray:
    """HAR forecasts of the Garman-Klass variance, as annualised volatility over ``1..h`` days.

    ``window``: fit on the latest ``window`` training days only (``None``: all of them).
    """
    history = fold.history()["gk_variance"]
    coefficients = har_fit(history if window is None else history.iloc[-window:], fold.horizon)
    features = har_features(fold.daily["gk_variance"]).reindex(fold.origins)
    design = np.column_stack([np.ones(len(features)), features.to_numpy()])
    mean_variance = np.maximum(design @ coefficients.T, MIN_DAILY_VARIANCE)
    # mean variance over k days -> annualised volatility over k days
    return np.sqrt(TRADING_DAYS * mean_variance).astype("float32")


def har_rolling(fold: Fold) -> np.ndarray:
    """HAR fitted on the latest ``HAR_WINDOW`` training days."""
    return har(fold, window=HAR_WINDOW)


def _log(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(np.log(frame.clip(lower=MIN_DAILY_VARIANCE)), index=frame.index)


def log_har_fit(variance: pd.Series, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-HAR coefficients per step ``(horizon, 4)`` and residual variances ``(horizon,)``."""
    features, targets = _log(har_features(variance)), _log(har_targets(variance, horizon))
    rows, residual_variances = [], []
    for step in range(1, horizon + 1):
        usable = features.notna().all(axis=1) & targets[step].notna()
        if usable.sum() < 2 * len(HAR_LAGS) + 2:
            raise ValueError(f"log-HAR needs more history; {int(usable.sum())} usable days.")
        design = np.column_stack([np.ones(int(usable.sum())), features[usable].to_numpy()])
        target = targets.loc[usable, step].to_numpy()
        coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
        residuals = target - design @ coefficients
        rows.append(coefficients)
        residual_variances.append(float(residuals.var(ddof=design.shape[1])))
    return np.asarray(rows), np.asarray(residual_variances)


def log_har(fold: Fold) -> np.ndarray:
    """Log-HAR forecasts with the lognormal bias term, as annualised volatility."""
    coefficients, residual_variances = log_har_fit(fold.history()["gk_variance"], fold.horizon)
    features = _log(har_features(fold.daily["gk_variance"])).reindex(fold.origins)
    design = np.column_stack([np.ones(len(features)), features.to_numpy()])
    mean_variance = np.exp(design @ coefficients.T + residual_variances / 2)
    return np.sqrt(TRADING_DAYS * mean_variance).astype("float32")
