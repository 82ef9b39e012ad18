"""Cross-sectional skill: per-date information coefficients (IC and rank IC) and their summary.

On each date the forecasts of every ticker are correlated with the returns those
tickers then realised: Pearson's correlation is the IC, Spearman's (Pearson's on
average ranks, so ties share a rank) the rank IC. A ticker enters a date's cross-section
only where both its forecast and its realised return are finite. A date is skipped,
and reported with its reason, when fewer than ``min_tickers`` tickers remain or when
the forecasts (or the realised returns) are all equal, so the correlation is undefined.

The summary over dates is the mean, the standard deviation (``ddof=1``), the ICIR
(mean / standard deviation) and the t-statistic ``mean / (std / sqrt(n))``. The
t-statistic treats the daily ICs as independent; with overlapping ``h``-step targets
they are not, so read it as a rough guide and use non-overlapping dates for inference.

>>> dates = pd.date_range("2020-01-01", periods=2)
>>> forecasts = pd.DataFrame([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]], index=dates)
>>> realised = pd.DataFrame([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], index=dates)
>>> scores = information_coefficients(forecasts, realised, min_tickers=3)
>>> scores.rank_ic.round(4).tolist()
[1.0, -0.5]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_TICKERS = 5


@dataclass(frozen=True)
class InformationCoefficients:
    """Per-date ICs of one forecast against the realised returns.

    Attributes:
        ic: Pearson correlation per scored date.
        rank_ic: Spearman correlation per scored date.
        tickers: number of tickers in each scored date's cross-section.
        skipped: the reason for each date that was not scored (index: date).
    """

    ic: pd.Series
    rank_ic: pd.Series
    tickers: pd.Series
    skipped: pd.Series


@dataclass(frozen=True)
class ICSummary:
    """Mean, standard deviation, ICIR and t-statistic of a per-date IC series.

    Attributes:
        mean: mean IC over the scored dates.
        std: sample standard deviation (``ddof=1``); NaN with fewer than two dates.
        icir: ``mean / std``.
        t_statistic: ``mean / (std / sqrt(dates))``.
        dates: number of scored dates.
        skipped: number of dates skipped (see :class:`InformationCoefficients`).
    """

    mean: float
    std: float
    icir: float
    t_statistic: float
    dates: int
    skipped: int


def align_cross_section(
    forecasts: pd.DataFrame, realised: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two date x ticker frames on their common dates and tickers, as floats.

    Raises:
        ValueError: the frames share no date or no ticker.
    """
    dates = forecasts.index.intersection(realised.index)
    tickers = forecasts.columns.intersection(realised.columns)
    if dates.empty or tickers.empty:
        raise ValueError(
            "Forecasts and realised returns must share dates and tickers; received "
            f"{len(dates)} common dates and {len(tickers)} common tickers "
            f"(forecast tickers {list(forecasts.columns)[:5]}, realised "
            f"{list(realised.columns)[:5]})."
        )
    both = forecasts.loc[dates, tickers].notna() & realised.loc[dates, tickers].notna()
    masked_forecasts = forecasts.loc[dates, tickers].astype("float64").where(both)
    masked_realised = realised.loc[dates, tickers].astype("float64").where(both)
    return masked_forecasts, masked_realised


def row_correlation(left: pd.DataFrame, right: pd.DataFrame) -> pd.Series:
    """Pearson correlation across the columns of each row, over cells finite in both.

    >>> left = pd.DataFrame([[1.0, 2.0, 3.0]])
    >>> right = pd.DataFrame([[2.0, 4.0, 7.0]])
    >>> round(float(row_correlation(left, right).iloc[0]), 6)
    0.993399
    """
    left_centred = left.sub(left.mean(axis=1), axis=0)
    right_centred = right.sub(right.mean(axis=1), axis=0)
    covariance = (left_centred * right_centred).sum(axis=1)
    scale = np.sqrt((left_centred**2).sum(axis=1) * (right_centred**2).sum(axis=1))
    return (covariance / scale).clip(-1.0, 1.0)


def _skip_reasons(forecasts: pd.DataFrame, realised: pd.DataFrame, min_tickers: int) -> pd.Series:
    counts = forecasts.count(axis=1)
    reasons = pd.Series("", index=forecasts.index, dtype="object")
    reasons[forecasts.max(axis=1) == forecasts.min(axis=1)] = "constant forecast"
    reasons[realised.max(axis=1) == realised.min(axis=1)] = "constant realised return"
    few = counts < min_tickers
    reasons[few] = f"fewer than {min_tickers} tickers (" + counts[few].astype(str) + ")"
    return reasons[reasons != ""]


def information_coefficients(
    forecasts: pd.DataFrame, realised: pd.DataFrame, *, min_tickers: int = MIN_TICKERS
) -> InformationCoefficients:
    """Per-date IC (Pearson) and rank IC (Spearman) across tickers.

    Args:
        forecasts: date x ticker frame of forecasts made for each date's target.
        realised: date x ticker frame of the returns then realised.
        min_tickers: dates with fewer tickers (both values finite) are skipped.

    Returns:
        The scored dates' ICs, their ticker counts, and the skipped dates' reasons.

    Raises:
        ValueError: ``min_tickers`` is below 3, or the frames share no date or ticker.
    """
    if min_tickers < 3:
        raise ValueError(f"min_tickers must be at least 3; received min_tickers={min_tickers}.")
    forecasts, realised = align_cross_section(forecasts, realised)
    skipped = _skip_reasons(forecasts, realised, min_tickers)
    scored = forecasts.index.difference(skipped.index, sort=False)
    forecasts, realised = forecasts.loc[scored], realised.loc[scored]
    forecast_ranks = forecasts.rank(axis=1, method="average")
    realised_ranks = realised.rank(axis=1, method="average")
    return InformationCoefficients(
        ic=row_correlation(forecasts, realised).rename("ic"),
        rank_ic=row_correlation(forecast_ranks, realised_ranks).rename("rank_ic"),
        tickers=forecasts.count(axis=1).rename("tickers"),
        skipped=skipped.rename("reason"),
    )


def summarise_ic(values: pd.Series, *, skipped: int = 0) -> ICSummary:
    """Mean, standard deviation, ICIR and t-statistic of per-date ICs (NaN dropped).

    >>> summary = summarise_ic(pd.Series([0.1, 0.3, 0.2]))
    >>> round(summary.mean, 4), round(summary.std, 4), round(summary.icir, 4)
    (0.2, 0.1, 2.0)
    >>> round(summary.t_statistic, 4), summary.dates
    (3.4641, 3)
    """
    finite = values.dropna()
    dates = len(finite)
    mean = float(finite.mean()) if dates else math.nan
    std = float(finite.std(ddof=1)) if dates > 1 else math.nan
    icir = mean / std if std > 0 else math.nan
    return ICSummary(
        mean=mean,
        std=std,
        icir=icir,
        t_statistic=icir * math.sqrt(dates),
        dates=dates,
        skipped=skipped,
    )


def ic_table(scores: InformationCoefficients) -> pd.DataFrame:
    """One row per measure (``ic``, ``rank_ic``) with the summary's fields as columns."""
    rows = {
        name: vars(summarise_ic(series, skipped=len(scores.skipped)))
        for name, series in (("ic", scores.ic), ("rank_ic", scores.rank_ic))
    }
    return pd.DataFrame.from_dict(rows, orient="index")
