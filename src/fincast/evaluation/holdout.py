"""Score a model next to its baselines on the same held-out windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fincast.evaluation.metrics import hit_rate, mae, rmse

REFERENCE = "naive"


def score_forecasts(actual: np.ndarray, forecasts: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per forecaster: MAE, RMSE, hit rate and MAE relative to the naive baseline.

    Args:
        actual: realised targets, ``(windows, horizon)``.
        forecasts: forecaster name -> forecasts of the same shape; should include
            ``"naive"`` for the relative score.

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
        rows.append(
            {
                "forecaster": name,
                "mae": mae(actual, forecast),
                "rmse": rmse(actual, forecast),
                "hit_rate": hit_rate(actual, forecast),
            }
        )
    table = pd.DataFrame(rows).set_index("forecaster")
    if REFERENCE in table.index:
        reference = float(table["mae"].loc[REFERENCE])
        table["mae_vs_naive"] = table["mae"] / reference
    return table
