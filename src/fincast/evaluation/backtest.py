"""Score a saved forecaster on data it has not seen, next to the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fincast.data.features import make_features
from fincast.data.windows import make_windows, split_at
from fincast.evaluation.baselines import historical_mean_returns, naive_returns
from fincast.evaluation.forecasters import point_forecast
from fincast.evaluation.holdout import score_forecasts
from fincast.serving.forecast import Forecaster


def score_unseen(forecaster: Forecaster, bars: pd.DataFrame) -> pd.DataFrame:
    """Score ``forecaster`` on every window whose targets start after its training data.

    The windows start after the card's ``fit_end`` (the last day training or early
    stopping saw) plus an embargo of one horizon. The historical-mean baseline uses
    the mean return up to ``fit_end`` only.

    Raises:
        ValueError: no unseen window is left in ``bars``.
    """
    card = forecaster.card
    features = make_features(bars, card["features"], price=card.get("price", "adj_close"))
    windows = make_windows(
        features,
        card.get("target", "log_return"),
        lookback=forecaster.lookback,
        horizon=forecaster.horizon,
    )
    fit_end = pd.Timestamp(card.get("fit_end", card["train_end"]))
    later_days = windows.first_target[windows.first_target > fit_end]
    if len(later_days) <= forecaster.horizon:
        raise ValueError(
            f"No data after the model's training end {fit_end.date()} to score it on; "
            "load later data (data=yfinance) or retrain on an earlier period."
        )
    _, unseen = split_at(windows, later_days[forecaster.horizon], embargo=0)
    seen_mean = float(features.loc[:fit_end, card.get("target", "log_return")].mean())
    forecasts = {
        "model": point_forecast(
            np.asarray(forecaster.model.predict(unseen.inputs, batch_size=1024, verbose=0)),
            card.get("quantiles"),
        ),
        "naive": naive_returns(unseen.inputs, horizon=forecaster.horizon),
        "historical_mean": historical_mean_returns(
            unseen.inputs, horizon=forecaster.horizon, train_mean=seen_mean
        ),
    }
    scores = score_forecasts(unseen.targets, forecasts)
    scores.attrs["first_day"] = str(unseen.first_target.min().date())
    scores.attrs["last_day"] = str(unseen.last_target.max().date())
    scores.attrs["windows"] = len(unseen)
    return scores
