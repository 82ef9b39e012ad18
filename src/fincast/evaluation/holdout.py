"""Score a model next to its baselines on the same held-out windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fincast.data.windows import Windows
from fincast.evaluation.baselines import historical_mean_returns, naive_returns
from fincast.evaluation.metrics import hit_rate, mae, rmse
from fincast.evaluation.volatility import persistence_volatility

REFERENCE = "naive"


def score_forecasts(
    actual: np.ndarray, forecasts: dict[str, np.ndarray], *, directional: bool = True
) -> pd.DataFrame:
    """One row per forecaster: MAE, RMSE, hit rate and MAE relative to the naive baseline.

    Args:
        actual: realised targets, ``(windows, horizon)``.
        forecasts: forecaster name -> forecasts of the same shape; should include
            ``"naive"`` for the relative score.
        directional: the task forecasts signed returns, so the hit rate (share of
            correct signs) means something; False leaves it out (e.g. volatility,
            always positive, would hit every time).

    Raises:
        ValueError: a forecast's shape differs from ``actual``'s.
    """
    if not forecasts:
        raise ValueError("score_forecasts needs at least one forecast. Received: forecasts={}")
    rows = []
    for name, forecast in forecasts.items():
        if forecast.shape != actual.shape:
            raise ValueError(
                f"Forecast {name!r} has shape {forecast.shape}, actual has {actual.shape}."
            )
        row = {"forecaster": name, "mae": mae(actual, forecast), "rmse": rmse(actual, forecast)}
        if directional:
            row["hit_rate"] = hit_rate(actual, forecast)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("forecaster")
    if REFERENCE in table.index:
        reference = float(table["mae"].loc[REFERENCE])
        table["mae_vs_naive"] = table["mae"] / reference
    return table


def return_holdout_baselines(
    train: Windows, test: Windows, daily: dict[str, pd.DataFrame]
) -> dict[str, np.ndarray]:
    """The returns task's hold-out baselines for the ``test`` windows.

    ``naive`` is the random walk (a zero return); ``historical_mean`` is the mean
    training target.
    """
    horizon = test.targets.shape[1]
    mean = float(train.targets.mean())
    return {
        "naive": naive_returns(test.inputs, horizon=horizon),
        "historical_mean": historical_mean_returns(test.inputs, horizon=horizon, train_mean=mean),
    }


def volatility_holdout_baselines(
    train: Windows, test: Windows, daily: dict[str, pd.DataFrame]
) -> dict[str, np.ndarray]:
    """The volatility task's hold-out baselines for the ``test`` windows (several tickers allowed).

    ``naive`` is persistence: the realised volatility of the last ``k`` days
    (``daily[ticker]["gk_variance"]`` up to each origin); ``historical_mean`` is the
    training targets' mean per step.
    """
    horizon = test.targets.shape[1]
    naive = np.zeros(test.targets.shape, dtype="float32")
    for ticker in pd.unique(test.tickers):
        rows = test.tickers == ticker
        naive[rows] = persistence_volatility(
            daily[ticker]["gk_variance"], test.as_of[rows], horizon
        )
    mean = train.targets.mean(axis=0).astype("float32")
    return {"naive": naive, "historical_mean": np.broadcast_to(mean, naive.shape).copy()}
