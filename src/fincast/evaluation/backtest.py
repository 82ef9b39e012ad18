"""Score a saved forecaster on data it has not seen, next to its task's hold-out baselines."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fincast.data.recipe import FeatureRecipe
from fincast.data.windows import split_at
from fincast.evaluation.holdout import score_forecasts
from fincast.evaluation.targets import daily_series
from fincast.evaluation.tasks import task_named
from fincast.quantiles import point_forecast
from fincast.serving.forecast import Forecaster


def score_unseen(
    forecaster: Forecaster,
    bars: pd.DataFrame,
    ticker: str = "",
    universe: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Score ``forecaster`` on every window whose targets start after its training data.

    The windows start after the card's ``fit_end`` (the last day training or early
    stopping saw) plus an embargo of one horizon. The task's hold-out baselines
    (e.g. the historical mean) use data up to ``fit_end`` only. ``universe``: the other
    tickers' bars, for a model with past covariates.

    Raises:
        ValueError: no unseen window is left in ``bars``.
    """
    card = forecaster.card
    task = task_named(str(card.get("task", "returns")))
    price = card.get("price", "adj_close")
    recipe = FeatureRecipe.of_card(card)
    features = recipe.frames({**(universe or {}), ticker: bars}, [ticker])[ticker]
    daily = daily_series(bars, features.index, price=price)
    windows = task.make_windows(
        features,
        daily,
        target=card.get("target", task.target),
        lookback=forecaster.lookback,
        horizon=forecaster.horizon,
        ticker=ticker,
    )
    fit_end = pd.Timestamp(card.get("fit_end", card["train_end"]))
    later_days = windows.first_target[windows.first_target > fit_end]
    if len(later_days) <= forecaster.horizon:
        raise ValueError(
            f"No data after the model's training end {fit_end.date()} to score it on; "
            "load later data (data=yfinance) or retrain on an earlier period."
        )
    seen, unseen = split_at(windows, later_days[forecaster.horizon], embargo=0)
    seen = seen.select(np.asarray(seen.last_target <= fit_end))
    from fincast.fitting.batches import predict_windows

    predicted = predict_windows(forecaster.model, unseen.inputs)
    forecasts = {
        "model": point_forecast(predicted, card.get("quantiles")),
        **task.holdout_baselines(seen, unseen, {ticker: daily}),
    }
    scores = score_forecasts(unseen.targets, forecasts, directional=task.directional)
    scores.attrs["first_day"] = str(unseen.first_target.min().date())
    scores.attrs["last_day"] = str(unseen.last_target.max().date())
    scores.attrs["windows"] = len(unseen)
    return scores
