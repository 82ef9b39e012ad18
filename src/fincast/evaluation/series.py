"""A job's bars as the task sees them: each ticker's windows and daily series.

``fincast-train``'s hold-out and the walk-forward backtest both start here, so they
model the same windows of the same features, covariates and targets. The input
columns come from :class:`fincast.data.recipe.FeatureRecipe`: the job's features,
then its covariates, computed over the whole universe of the job's bars.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from fincast.data.recipe import FeatureRecipe
from fincast.data.universe import ticker_sectors
from fincast.data.windows import Windows
from fincast.evaluation.targets import daily_series
from fincast.evaluation.tasks import task_named
from fincast.specs import JobSpec

logger = logging.getLogger(__name__)


def feature_recipe(job: JobSpec, universe: Sequence[str]) -> FeatureRecipe:
    """The job's input columns, with its covariates averaged over ``universe``."""
    data = job.data
    sectors = ticker_sectors(data.source, universe)
    vocabularies = {"ticker": sorted(universe), "sector": sorted(set(sectors.values()))}
    return FeatureRecipe(
        names=list(job.features.names),
        price=job.features.price,
        covariates=list(job.features.covariates),
        horizon=job.task.horizon,
        universe=list(universe),
        sectors=sectors,
        calendar=data.calendar,
        calendars=dict(data.calendars),
        identities=job.features.identities,
        vocabularies={name: vocabularies[name] for name in job.features.identities},
        source=data.source,
    )


def _windows_of(
    features: pd.DataFrame, bars: pd.DataFrame, job: JobSpec, ticker: str
) -> tuple[Windows, pd.DataFrame]:
    daily = daily_series(bars, features.index, price=job.features.price)
    windows = task_named(job.task.name).make_windows(
        features,
        daily,
        target=job.task.target,
        lookback=job.task.lookback,
        horizon=job.task.horizon,
        ticker=ticker,
    )
    return windows, daily


def prepare_series(
    bars: pd.DataFrame, job: JobSpec, ticker: str = ""
) -> tuple[Windows, pd.DataFrame]:
    """One ticker's windows (the task's targets) and its daily series (a universe of one)."""
    windows, dailies = prepare_panel({ticker: bars}, job)
    return windows[ticker], dailies[ticker]


def prepare_universe(
    bars: dict[str, pd.DataFrame], job: JobSpec
) -> tuple[dict[str, Windows], dict[str, pd.DataFrame], dict[str, str]]:
    """Every ticker's windows and daily series, and the tickers left out with the reason.

    Covariates are computed over every ticker of ``bars``. A ticker of a panel that
    cannot make one window (fewer rows than the lookback and horizon need) is left
    out, logged and named; one ticker alone, or a panel of such tickers, raises.

    Raises:
        ValueError: no ticker makes a window (the first ticker's error).
    """
    recipe = feature_recipe(job, list(bars))
    frames = recipe.frames(bars)
    windows, dailies, left_out = {}, {}, {}
    first_error: ValueError | None = None
    for ticker, features in frames.items():
        try:
            windows[ticker], dailies[ticker] = _windows_of(features, bars[ticker], job, ticker)
        except ValueError as error:
            if len(bars) == 1:
                raise
            first_error = first_error or error
            left_out[ticker] = f"no window from {len(features)} feature rows: {error}"
    if not windows and first_error is not None:
        raise first_error
    if left_out:
        logger.warning(
            "Left out %d of %d tickers without a single window: %s",
            len(left_out),
            len(bars),
            "; ".join(f"{ticker}: {reason}" for ticker, reason in left_out.items()),
        )
    return windows, dailies, left_out


def prepare_panel(
    bars: dict[str, pd.DataFrame], job: JobSpec
) -> tuple[dict[str, Windows], dict[str, pd.DataFrame]]:
    """Every ticker's windows and daily series, in the order of ``bars``.

    Raises:
        ValueError: a ticker that cannot make one window.
    """
    recipe = feature_recipe(job, list(bars))
    prepared = {
        ticker: _windows_of(features, bars[ticker], job, ticker)
        for ticker, features in recipe.frames(bars).items()
    }
    return (
        {ticker: pair[0] for ticker, pair in prepared.items()},
        {ticker: pair[1] for ticker, pair in prepared.items()},
    )
