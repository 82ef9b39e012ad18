"""Long-short quantile portfolios from a cross-section of forecasts, with turnover and costs.

On each date the tickers with both a forecast and a realised (simple) return are
ranked by forecast, ascending, with average ranks for ties, and ticker ``i`` of ``n``
goes to bucket ``floor((rank_i - 0.5) * q / n) + 1`` of ``q``: the bucket that holds
the midpoint of its rank. The rule never splits tied tickers, fills every bucket when
``n >= q`` and nothing ties, and is symmetric (negating the forecasts mirrors the
buckets) except that a midpoint on a boundary goes up: with ``n = 10, q = 5`` each
bucket holds two; with ``n = 5, q = 2`` the bottom holds two and the top three.
A date with fewer than ``q`` tickers, or whose ties leave the top or the bottom bucket
empty, is left out and reported with its reason.

Each bucket is equal-weighted (weights summing to 1). The long-short book holds
``+1`` in the top bucket and ``-1`` in the bottom one (gross exposure 2), so its return
is the top bucket's mean return minus the bottom's. On a left-out date the book is flat.

Turnover is the sum over tickers of ``|w_t - w_{t-1}|`` of the long-short weights, both
sides and both buys and sells counted (replacing the whole book is a turnover of 4;
entering it on the first date, 2). Weights are compared target to target: drift between
rebalances is ignored. Costs are ``cost_bps`` basis points per unit of turnover, so per
unit of traded value, and come off the long-short return to give ``net``; the equity
curve compounds ``net`` from 1.

``sectors`` makes the book sector-neutral by bucketing *within* each sector and then
equal-weighting the sectors: a ticker's weight in bucket ``k`` is ``1 / (tickers of
its sector in k) / (sectors with a non-empty k)``. Each sector is long its own top and
short its own bottom, so the book holds no net position in any sector. A sector with
too few tickers on a date is left out that date and listed in ``excluded``.

``realised`` on date ``t`` must be the return earned by holding from ``t`` to the next
row's date; with ``h``-step targets pass every ``h``-th date (or one-step returns), so
that the rows do not overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fincast.evaluation.cross_section import align_cross_section

QUANTILES = 5
BASIS_POINT = 1e-4
ALL_TICKERS = "all"


@dataclass(frozen=True)
class QuantilePortfolios:
    """Per-date returns of the quantile portfolios and of the long-short book.

    Attributes:
        bucket_returns: date x bucket (1 = lowest forecasts .. q = highest), equal-weight.
        long_short: top bucket minus bottom bucket, before costs; NaN on skipped dates.
        turnover: sum of absolute changes of the long-short weights (both sides).
        costs: ``turnover * cost_bps / 10_000``.
        net: ``long_short - costs``, with 0 for the flat book on skipped dates.
        equity: ``net`` compounded from 1.
        weights: date x ticker long-short weights (positive long, negative short).
        skipped: the reason for each date on which no book was held.
        excluded: one row per (date, group) left out: ``date``, ``group``, ``tickers``,
            ``reason``; the group is a sector, or ``"all"`` when not sector-neutral.
    """

    bucket_returns: pd.DataFrame
    long_short: pd.Series
    turnover: pd.Series
    costs: pd.Series
    net: pd.Series
    equity: pd.Series
    weights: pd.DataFrame
    skipped: pd.Series
    excluded: pd.DataFrame


def assign_quantiles(forecasts: pd.DataFrame, quantiles: int = QUANTILES) -> pd.DataFrame:
    """Bucket 1..``quantiles`` of each forecast among its date's forecasts (NaN stays NaN).

    Rows with fewer than ``quantiles`` forecasts get no buckets.

    >>> frame = pd.DataFrame([[0.3, -0.1, 0.0, 0.2, 0.1]])
    >>> assign_quantiles(frame, 5).iloc[0].tolist()
    [5.0, 1.0, 2.0, 4.0, 3.0]
    >>> assign_quantiles(pd.DataFrame([[0.1, 0.1, 0.2, 0.3]]), 2).iloc[0].tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    if quantiles < 2:
        raise ValueError(f"quantiles must be at least 2; received quantiles={quantiles}.")
    ranks = forecasts.rank(axis=1, method="average")
    counts = ranks.count(axis=1)
    buckets = (ranks - 0.5).mul(quantiles).div(counts, axis=0).floordiv(1.0) + 1
    buckets.loc[counts < quantiles] = np.nan
    return buckets


def _group_buckets(forecasts: pd.DataFrame, quantiles: int) -> tuple[pd.DataFrame, pd.Series]:
    """Buckets within one group, and the reason for each date the group is left out."""
    buckets = assign_quantiles(forecasts, quantiles)
    counts = forecasts.count(axis=1)
    has_ends = (buckets == 1).any(axis=1) & (buckets == quantiles).any(axis=1)
    reasons = pd.Series("", index=forecasts.index, dtype="object")
    reasons[~has_ends] = "tied forecasts leave the top or bottom bucket empty"
    few = counts < quantiles
    reasons[few] = f"fewer than {quantiles} tickers (" + counts[few].astype(str) + ")"
    reasons = reasons[reasons != ""]
    buckets.loc[reasons.index] = np.nan
    return buckets, reasons


def _groups_of(tickers: pd.Index, sectors: pd.Series | None) -> pd.Series:
    if sectors is None:
        return pd.Series(ALL_TICKERS, index=tickers)
    missing = tickers.difference(sectors.dropna().index)
    if not missing.empty:
        raise ValueError(
            f"No sector for tickers {list(missing)}; pass a sector for every ticker "
            "or sectors=None for the plain (not sector-neutral) portfolios."
        )
    return sectors.loc[tickers].astype(str)


def grouped_buckets(
    forecasts: pd.DataFrame, groups: pd.Series, quantiles: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Buckets assigned within each group, and the (date, group) pairs left out."""
    parts, excluded = [], []
    for group, members in groups.groupby(groups, sort=True):
        subset = forecasts[members.index]
        buckets, reasons = _group_buckets(subset, quantiles)
        parts.append(buckets)
        excluded.append(
            pd.DataFrame(
                {
                    "date": reasons.index,
                    "group": group,
                    "tickers": subset.loc[reasons.index].count(axis=1).to_numpy(),
                    "reason": reasons.to_numpy(),
                }
            )
        )
    table = pd.concat(excluded, ignore_index=True).sort_values(["date", "group"])
    return pd.concat(parts, axis=1)[forecasts.columns], table.reset_index(drop=True)


def bucket_weights(buckets: pd.DataFrame, groups: pd.Series, bucket: int) -> pd.DataFrame:
    """Weights of one bucket: equal within each group, groups equal-weighted; rows sum to 1.

    A row whose bucket is empty in every group is all zeros.

    >>> buckets = pd.DataFrame([[1.0, 1.0, 2.0, 1.0]], columns=list("abcd"))
    >>> groups = pd.Series(["x", "x", "x", "y"], index=list("abcd"))
    >>> bucket_weights(buckets, groups, 1).iloc[0].tolist()
    [0.25, 0.25, 0.0, 0.5]
    """
    members = (buckets == bucket).astype("float64")
    by_group = members.T.groupby(groups)
    group_size = by_group.transform("sum").T
    groups_present = (by_group.sum() > 0).sum(axis=0)
    within = (members / group_size.where(group_size > 0)).fillna(0.0)
    return within.div(groups_present.where(groups_present > 0), axis=0).fillna(0.0)


def turnover(weights: pd.DataFrame) -> pd.Series:
    """Sum of absolute weight changes per date; the first date is traded from cash.

    >>> weights = pd.DataFrame([[0.5, 0.5, -1.0], [1.0, 0.0, -1.0]])
    >>> turnover(weights).tolist()
    [2.0, 1.0]
    """
    return weights.diff().fillna(weights).abs().sum(axis=1).rename("turnover")


def _weighted_return(weights: pd.DataFrame, realised: pd.DataFrame) -> pd.Series:
    held = weights.abs().sum(axis=1) > 0
    return (weights * realised.fillna(0.0)).sum(axis=1).where(held)


def _skipped_dates(excluded: pd.DataFrame, held: pd.Series) -> pd.Series:
    empty = excluded[excluded["date"].isin(held.index[~held])]
    labelled = empty["group"].astype(str) + ": " + empty["reason"]
    text = labelled if empty["group"].nunique() > 1 else empty["reason"]
    return text.groupby(empty["date"].to_numpy()).agg("; ".join).rename("reason")


def quantile_portfolios(
    forecasts: pd.DataFrame,
    realised: pd.DataFrame,
    *,
    quantiles: int = QUANTILES,
    cost_bps: float = 0.0,
    sectors: pd.Series | None = None,
) -> QuantilePortfolios:
    """Quantile and long-short portfolios, with turnover, costs and an equity curve.

    Args:
        forecasts: date x ticker forecasts, known at each date.
        realised: date x ticker simple returns earned from each date to the next row.
        quantiles: number of buckets (5: quintiles).
        cost_bps: cost in basis points per unit of turnover.
        sectors: ticker -> sector; given, the portfolios are sector-neutral.

    Returns:
        The portfolios (see :class:`QuantilePortfolios` and the module docstring).

    Raises:
        ValueError: bad ``quantiles`` or ``cost_bps``, no common dates or tickers, or a
            ticker without a sector.
    """
    if cost_bps < 0:
        raise ValueError(f"cost_bps must be zero or positive; received cost_bps={cost_bps}.")
    forecasts, realised = align_cross_section(forecasts, realised)
    groups = _groups_of(forecasts.columns, sectors)
    buckets, excluded = grouped_buckets(forecasts, groups, quantiles)
    by_bucket = {k: bucket_weights(buckets, groups, k) for k in range(1, quantiles + 1)}
    weights = by_bucket[quantiles] - by_bucket[1]
    bucket_returns = pd.DataFrame(
        {k: _weighted_return(w, realised) for k, w in by_bucket.items()}
    ).rename_axis(columns="bucket")
    long_short = _weighted_return(weights, realised).rename("long_short")
    traded = turnover(weights)
    costs = (traded * cost_bps * BASIS_POINT).rename("costs")
    net = (long_short.fillna(0.0) - costs).rename("net")
    return QuantilePortfolios(
        bucket_returns=bucket_returns,
        long_short=long_short,
        turnover=traded,
        costs=costs,
        net=net,
        equity=(1.0 + net).cumprod().rename("equity"),
        weights=weights,
        skipped=_skipped_dates(excluded, long_short.notna()),
        excluded=excluded,
    )


def summarise_portfolios(
    portfolios: QuantilePortfolios, *, periods_per_year: float = 252.0
) -> dict[str, float]:
    """Headline figures: mean gross and net return, annualised net Sharpe, turnover, drawdown.

    ``periods_per_year`` is the number of rebalances a year (252 for daily rows,
    ``252 / h`` for every ``h``-th day). The risk-free rate is taken as zero.
    """
    net = portfolios.net
    std = float(net.std(ddof=1)) if len(net) > 1 else float("nan")
    drawdown = portfolios.equity / portfolios.equity.cummax() - 1.0
    return {
        "dates": float(len(net)),
        "skipped": float(len(portfolios.skipped)),
        "mean_long_short": float(portfolios.long_short.mean()),
        "mean_net": float(net.mean()),
        "sharpe_net": float(net.mean() / std * np.sqrt(periods_per_year)) if std > 0 else np.nan,
        "mean_turnover": float(portfolios.turnover.mean()),
        "final_equity": float(portfolios.equity.iloc[-1]) if len(net) else np.nan,
        "max_drawdown": float(drawdown.min()) if len(net) else np.nan,
    }
