"""Probabilistic scores of quantile forecasts: interval coverage, width, Winkler, CRPS, WIS.

Every score reads quantile forecasts ``(n, horizon, K)`` at increasing ``levels`` and
the actuals ``(n, horizon)``, in the forecast's own units (log returns, volatility).
Lower is better for all but coverage, which should be close to its target.

- Central intervals: each pair of levels ``(tau, 1 - tau)`` bounds a central
  ``1 - 2 tau`` interval (0.1 / 0.9 -> 80%). Its **coverage** is the share of actuals
  inside it, to be judged against that target; its **width** is ``upper - lower``.
- **Winkler** interval score (Winkler, 1972; Gneiting & Raftery, 2007) of a central
  ``1 - alpha`` interval: ``width + (2 / alpha)(lower - y)`` when ``y < lower``,
  ``width + (2 / alpha)(y - upper)`` when ``y > upper``, the width alone inside.
- **CRPS**, approximated from the K quantiles by the quantile decomposition of the
  CRPS (Gneiting & Ranjan, 2011): ``CRPS = 2 * integral of the pinball loss over the
  levels``, estimated by ``2 * mean`` of the pinball losses at the K levels. It is an
  approximation on K levels (exact only as K grows with evenly spread levels), so two
  forecasters compare best when they forecast the same levels.
- **WIS**, the weighted interval score (Bracher et al., 2021):
  ``(0.5 |y - median| + sum_k (alpha_k / 2) IS_alpha_k) / (K + 0.5)`` over the
  median and the K central intervals; it needs the 0.5 level (NaN without it). On
  levels symmetric about a median it equals the CRPS approximation above exactly
  (Bracher et al., 2021); the two differ where some levels have no mirror level.

>>> import numpy as np
>>> actual, forecast = np.array([[0.0]]), np.array([[[-1.0, 0.0, 1.0]]])
>>> scores = probabilistic_scores(actual, forecast, (0.1, 0.5, 0.9))
>>> scores["cover_80"], scores["width_80"], scores["winkler_80"]
(1.0, 2.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from fincast.evaluation.backtest_record import Backtest


def central_intervals(levels: Sequence[float]) -> dict[int, tuple[int, int]]:
    """The central intervals among ``levels``, narrowest first: size in percent -> the
    positions of its (lower, upper) levels.

    >>> central_intervals((0.05, 0.1, 0.5, 0.9, 0.95))
    {80: (1, 3), 90: (0, 4)}
    """
    rounded = [round(float(level), 10) for level in levels]
    found = {}
    for position, level in enumerate(rounded):
        upper = round(1.0 - level, 10)
        if level < 0.5 and upper in rounded:
            found[round(100 * (upper - level))] = (position, rounded.index(upper))
    return dict(sorted(found.items()))


def winkler_scores(
    actual: ArrayLike, lower: ArrayLike, upper: ArrayLike, alpha: float
) -> np.ndarray:
    """Winkler's interval score of each central ``1 - alpha`` interval ``[lower, upper]``.

    >>> winkler_scores([0.0, -2.0, 3.0], [-1.0] * 3, [1.0] * 3, alpha=0.2).tolist()
    [2.0, 12.0, 22.0]
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1). Received: alpha={alpha}")
    y, low, high = (np.asarray(value, "float64") for value in (actual, lower, upper))
    below = np.maximum(low - y, 0.0)
    above = np.maximum(y - high, 0.0)
    return np.asarray((high - low) + (2.0 / alpha) * (below + above))


def _checked(
    actual: ArrayLike, forecast: ArrayLike, levels: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(actual, "float64")
    quantiles = np.asarray(forecast, "float64")
    tau = np.asarray(levels, "float64")
    if quantiles.shape != (*y.shape, tau.size):
        raise ValueError(
            f"forecast must be shaped {(*y.shape, tau.size)} (actuals + one column per level). "
            f"Received: forecast shape={quantiles.shape}, levels={tuple(levels)}"
        )
    if np.any((tau <= 0) | (tau >= 1)) or np.any(np.diff(tau) <= 0):
        raise ValueError(f"levels must increase strictly in (0, 1). Received: levels={levels}")
    return y, quantiles, tau


def crps_values(actual: ArrayLike, forecast: ArrayLike, levels: Sequence[float]) -> np.ndarray:
    """The quantile approximation of the CRPS per value: ``2 * mean_k pinball_k``.

    >>> crps_values([[1.0]], [[[0.0, 2.0]]], (0.1, 0.9)).round(6).tolist()
    [[0.2]]
    """
    y, quantiles, tau = _checked(actual, forecast, levels)
    error = y[..., None] - quantiles
    return np.asarray(2.0 * np.mean(np.maximum(tau * error, (tau - 1.0) * error), axis=-1))


def wis_values(actual: ArrayLike, forecast: ArrayLike, levels: Sequence[float]) -> np.ndarray:
    """The weighted interval score per value (NaN everywhere without the 0.5 level).

    >>> wis_values([[0.0]], [[[-1.0, 0.0, 1.0]]], (0.1, 0.5, 0.9)).round(6).tolist()
    [[0.133333]]
    """
    y, quantiles, tau = _checked(actual, forecast, levels)
    rounded = [round(float(level), 10) for level in tau]
    if 0.5 not in rounded:
        return np.full(y.shape, np.nan)
    total = 0.5 * np.abs(y - quantiles[..., rounded.index(0.5)])
    intervals = central_intervals(rounded)
    for low, high in intervals.values():
        alpha = 2.0 * float(tau[low])
        total = total + alpha / 2 * winkler_scores(
            y, quantiles[..., low], quantiles[..., high], alpha
        )
    return np.asarray(total / (len(intervals) + 0.5))


def probabilistic_scores(
    actual: ArrayLike, forecast: ArrayLike, levels: Sequence[float]
) -> dict[str, float]:
    """Mean scores over every value: ``cover_<size>``, ``width_<size>``, ``winkler_<size>``
    for each central interval, then ``crps`` and ``wis``.

    Args:
        actual: realised values, ``(n, horizon)`` (or any shape ``S``).
        forecast: quantile forecasts, ``S + (len(levels),)``.
        levels: the quantile levels, strictly increasing in ``(0, 1)``.
    """
    y, quantiles, tau = _checked(actual, forecast, levels)
    scores: dict[str, float] = {}
    for size, (low, high) in central_intervals(tau.tolist()).items():
        lower, upper = quantiles[..., low], quantiles[..., high]
        alpha = 2.0 * float(tau[low])  # the 1 - alpha interval between tau and 1 - tau
        scores[f"cover_{size}"] = float(np.mean((y >= lower) & (y <= upper)))
        scores[f"width_{size}"] = float(np.mean(upper - lower))
        scores[f"winkler_{size}"] = float(np.mean(winkler_scores(y, lower, upper, alpha)))
    scores["crps"] = float(np.mean(crps_values(y, quantiles, tau.tolist())))
    scores["wis"] = float(np.mean(wis_values(y, quantiles, tau.tolist())))
    return scores


def quantile_forecasters(backtest: Backtest) -> list[str]:
    """The forecasters of ``backtest`` that forecast quantiles, in its order."""
    return [name for name in backtest.forecasts if backtest.levels.get(name) is not None]


def probabilistic_table(backtest: Backtest) -> pd.DataFrame | None:
    """One row per quantile forecaster, horizon step (``all``, ``h1``...) and central interval.

    Columns: ``step``, ``target`` (the interval's nominal coverage, 0.8), ``coverage``,
    ``width``, ``winkler``, ``crps`` and ``wis`` (the last two score the whole quantile
    forecast, so they repeat over a forecaster's intervals). ``None`` without quantiles.
    """
    rows: list[dict[str, object]] = []
    for name in quantile_forecasters(backtest):
        levels = backtest.levels[name] or ()
        forecast = backtest.forecasts[name]
        steps = {"all": slice(None)} | {
            f"h{k + 1}": slice(k, k + 1) for k in range(backtest.horizon)
        }
        for step, columns in steps.items():
            scores = probabilistic_scores(backtest.actual[:, columns], forecast[:, columns], levels)
            sizes: list[int | None] = [*central_intervals(levels)] or [None]
            rows.extend(_row(name, step, size, scores) for size in sizes)
    if not rows:
        return None
    return pd.DataFrame(rows).set_index("forecaster")


def _row(name: str, step: str, size: int | None, scores: dict[str, float]) -> dict[str, object]:
    """One row of :func:`probabilistic_table` (``size=None``: no central interval)."""
    nan = float("nan")
    return {
        "forecaster": name,
        "step": step,
        "target": nan if size is None else size / 100,
        "coverage": scores.get(f"cover_{size}", nan),
        "width": scores.get(f"width_{size}", nan),
        "winkler": scores.get(f"winkler_{size}", nan),
        "crps": scores["crps"],
        "wis": scores["wis"],
    }


def add_to_scores(scores: pd.DataFrame, backtest: Backtest) -> pd.DataFrame:
    """``scores`` with each quantile forecaster's overall probabilistic scores (NaN elsewhere)."""
    for name in quantile_forecasters(backtest):
        levels = backtest.levels[name] or ()
        found = probabilistic_scores(backtest.actual, backtest.forecasts[name], levels)
        for column, value in found.items():
            if column not in scores.columns:
                scores[column] = np.nan
            scores.loc[name, column] = value
    return scores


def probabilistic_lines(table: pd.DataFrame | None, units: str) -> list[str]:
    """The report's text lines for ``table``'s overall rows (none without quantiles)."""
    if table is None:
        return []
    overall = table[table["step"] == "all"].drop(columns="step")
    return [
        "",
        f"Probabilistic scores over all steps (coverage against its target; width, Winkler, "
        f"CRPS from the quantiles and WIS in {units}; lower is better):",
        overall.to_string(float_format=lambda value: f"{value:.4g}", na_rep="-"),
    ]


STRETCH = 250  # test origins per stretch: about a trading year


def stretch_coverage(
    backtest: Backtest, name: str, length: int = STRETCH
) -> dict[int, list[float]]:
    """Coverage of each central interval of ``name`` over consecutive stretches of ``length``
    test origins (in time order, every step pooled; a last, shorter stretch is dropped
    unless it is the only one): where an interval's coverage drifts, a stretch shows it."""
    levels = backtest.levels.get(name)
    if not levels:
        return {}
    order = np.argsort(np.asarray(backtest.origins), kind="stable")
    actual = np.asarray(backtest.actual, dtype="float64")[order]
    forecast = np.asarray(backtest.forecasts[name], dtype="float64")[order]
    found = {}
    for size, (low, high) in central_intervals(levels).items():
        inside = (actual >= forecast[..., low]) & (actual <= forecast[..., high])
        starts = range(0, max(len(inside) - length + 1, 1), length)
        found[size] = [float(inside[start : start + length].mean()) for start in starts]
    return found


def rolling_coverage_range(
    backtest: Backtest, name: str, length: int = STRETCH
) -> dict[int, tuple[float, float]]:
    """The lowest and highest coverage of each central interval of ``name`` over every run
    of ``length`` consecutive test dates (each date's coverage pooled over its tickers and
    steps); empty with fewer dates."""
    levels = backtest.levels.get(name)
    if not levels:
        return {}
    actual = np.asarray(backtest.actual, dtype="float64")
    forecast = np.asarray(backtest.forecasts[name], dtype="float64")
    found = {}
    for size, (low, high) in central_intervals(levels).items():
        inside = (actual >= forecast[..., low]) & (actual <= forecast[..., high])
        per_row = inside.reshape(len(inside), -1).mean(axis=1)
        per_date = pd.Series(per_row).groupby(np.asarray(backtest.origins)).mean().sort_index()
        if len(per_date) < length:
            continue
        rolling = per_date.rolling(length).mean().dropna()
        found[size] = (float(rolling.min()), float(rolling.max()))
    return found


def stretch_lines(backtest: Backtest, name: str = "model") -> list[str]:
    """The report's lines of :func:`stretch_coverage` and :func:`rolling_coverage_range`
    for the model's intervals."""
    ranges = rolling_coverage_range(backtest, name)
    return [
        f"Coverage of the {name}'s {size}% interval per {STRETCH} test origins, in time "
        f"order: {', '.join(f'{share:.1%}' for share in shares)}; over every {STRETCH} "
        f"consecutive test dates: {ranges[size][0]:.1%} to {ranges[size][1]:.1%}"
        for size, shares in stretch_coverage(backtest, name).items()
        if size in ranges
    ]
