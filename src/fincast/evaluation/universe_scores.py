"""The scores of a universe walk-forward: IC, quantile portfolios and per-ticker DM tests.

:mod:`fincast.evaluation.universe` puts them together, saves and loads them; this
module computes them from the per-ticker :class:`Backtest` records of one walk-forward.

- Signal: on each origin date, each ticker's model forecast summed over the horizon
  (for returns: the expected ``h``-day log return), against the realised sum (the
  ``h``-day log return). IC and rank IC use :mod:`fincast.evaluation.cross_section`
  on every origin; with ``h > 1`` neighbouring origins' targets overlap, so the
  t-statistic is also given on the non-overlapping origins (every ``h``-th date).
- Portfolios (:mod:`fincast.evaluation.portfolios`): formed on every ``h``-th origin
  date (the non-overlapping grid) and held ``h`` sessions, on the simple return
  ``exp(sum of log returns) - 1``; so ``252 / h`` rebalances a year.
- DM: per ticker, the model against one baseline for every ticker (so that "k of N"
  counts one comparison), by :func:`fincast.evaluation.report.compare_mean_loss` on
  the task's own loss; p-values adjusted by Benjamini-Hochberg and Holm
  (:mod:`fincast.evaluation.multiple_testing`). The baseline is the task's reference
  (the random walk ``naive`` for returns, ``har`` for volatility) when it was scored,
  else the baseline with the lowest loss over every ticker's windows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fincast.evaluation.backtest_record import Backtest
from fincast.evaluation.cross_section import information_coefficients, summarise_ic
from fincast.evaluation.forecasters import MODEL
from fincast.evaluation.multiple_testing import (
    MultipleTests,
    adjust_p_values,
    significant_count_sentence,
)
from fincast.evaluation.portfolios import quantile_portfolios, summarise_portfolios
from fincast.evaluation.report import compare_mean_loss
from fincast.evaluation.stats import DMTest
from fincast.evaluation.tasks import task_named

TRADING_DAYS = 252
UNKNOWN_SECTOR = "unknown"
IC_COLUMNS = ["ic", "rank_ic", "tickers"]
PER_TICKER_COLUMNS = [
    "sector",
    "windows",
    "loss_model",
    "loss_baseline",
    "loss_ratio",
    "dm_p",
    "p_bh",
    "p_holm",
    "verdict",
]


def signal_frames(backtests: Mapping[str, Backtest]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Date x ticker frames of the model's forecast and the realised value, each summed
    over the horizon, on every origin date (NaN where a ticker has no origin that day)."""
    forecasts, realised = {}, {}
    for ticker, backtest in backtests.items():
        origins = pd.DatetimeIndex(backtest.origins)
        forecasts[ticker] = pd.Series(backtest.point(MODEL).sum(axis=1), index=origins)
        realised[ticker] = pd.Series(np.asarray(backtest.actual).sum(axis=1), index=origins)
    return (
        pd.DataFrame(forecasts).sort_index().rename_axis("date"),
        pd.DataFrame(realised).sort_index().rename_axis("date"),
    )


def rebalance_dates(dates: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """Every ``horizon``-th of ``dates`` from the first: origins whose targets do not overlap."""
    return pd.DatetimeIndex(dates[::horizon], name="date")


def _ic_fields(values: pd.Series, skipped: int, grid: pd.DatetimeIndex) -> dict[str, Any]:
    summary = summarise_ic(values, skipped=skipped)
    apart = summarise_ic(values.reindex(grid).dropna())
    return {
        "mean": summary.mean,
        "std": summary.std,
        "icir": summary.icir,
        "t_stat": summary.t_statistic,
        "dates": summary.dates,
        "skipped": summary.skipped,
        "t_stat_non_overlapping": apart.t_statistic,
        "dates_non_overlapping": apart.dates,
    }


def ic_scores(
    forecasts: pd.DataFrame, realised: pd.DataFrame, *, horizon: int, min_tickers: int
) -> tuple[pd.DataFrame, dict[str, Any] | None, dict[str, Any] | None, str]:
    """Per-date IC table (``ic``, ``rank_ic``, ``tickers``), the IC and rank IC summaries,
    and a note when no date could be scored (the summaries are then ``None``).

    ``min_tickers`` below 3 is taken as 3: the correlation of two points is always +-1.
    """
    scores = information_coefficients(forecasts, realised, min_tickers=max(min_tickers, 3))
    table = pd.DataFrame({"ic": scores.ic, "rank_ic": scores.rank_ic, "tickers": scores.tickers})
    table = table.reindex(columns=IC_COLUMNS).rename_axis("date")
    if table.empty:
        reasons = scores.skipped.value_counts().head(3)
        shown = "; ".join(f"{reason} on {count} dates" for reason, count in reasons.items())
        return table, None, None, f"no date had an IC: {shown or 'no dates'}"
    grid = rebalance_dates(pd.DatetimeIndex(forecasts.index), horizon)
    skipped = len(scores.skipped)
    return (
        table,
        _ic_fields(table["ic"], skipped, grid),
        _ic_fields(table["rank_ic"], skipped, grid),
        "",
    )


def _annual_growth(returns: pd.Series, periods_per_year: float) -> float:
    """Compound annual growth of ``returns`` (NaN as flat); -1 once the book is wiped out."""
    growth = float(np.prod(1.0 + returns.fillna(0.0).to_numpy("float64")))
    if not len(returns):
        return math.nan
    return growth ** (periods_per_year / len(returns)) - 1.0 if growth > 0 else -1.0


def portfolio_scores(
    forecasts: pd.DataFrame,
    realised: pd.DataFrame,
    *,
    horizon: int,
    quantiles: int,
    cost_bps: float,
    sectors: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any] | None, str]:
    """Equity curves (``q1``..``qN``, ``long_short``, ``long_short_net``, growth of 1) on
    the rebalance dates, the long-short summary, and a note when no book was ever held.

    ``realised`` holds ``h``-day log returns; ``sectors`` (ticker -> sector, ``""``
    unknown, grouped as ``unknown``) makes the book sector-neutral.
    """
    grid = rebalance_dates(pd.DatetimeIndex(forecasts.index), horizon)
    groups = None
    if sectors is not None:
        names = {t: sectors.get(str(t), "") or UNKNOWN_SECTOR for t in forecasts.columns}
        groups = pd.Series(names, dtype="object")
    held = realised.loc[grid]
    simple = pd.DataFrame(np.expm1(held.to_numpy("float64")), held.index, held.columns)
    books = quantile_portfolios(
        forecasts.loc[grid],
        simple,
        quantiles=quantiles,
        cost_bps=cost_bps,
        sectors=groups,
    )
    equity = (1.0 + books.bucket_returns.fillna(0.0)).cumprod()
    equity.columns = [f"q{bucket}" for bucket in equity.columns]
    equity["long_short"] = (1.0 + books.long_short.fillna(0.0)).cumprod()
    equity["long_short_net"] = books.equity
    equity = equity.rename_axis(index="date", columns=None)
    if books.long_short.notna().sum() == 0:
        reasons = books.skipped.value_counts().head(3)
        shown = "; ".join(f"{reason} on {count} dates" for reason, count in reasons.items())
        return equity, None, f"no long-short book was held: {shown or 'no dates'}"
    per_year = TRADING_DAYS / horizon
    headline = summarise_portfolios(books, periods_per_year=per_year)
    net_std = float(books.net.std(ddof=1)) if len(books.net) > 1 else math.nan
    long_short = {
        "annual_return": _annual_growth(books.long_short, per_year),
        "annual_volatility": net_std * math.sqrt(per_year),
        "sharpe": headline["sharpe_net"],
        "mean_turnover": headline["mean_turnover"],
        "net_annual_return": _annual_growth(books.net, per_year),
        "max_drawdown": headline["max_drawdown"],
        "rebalances": int(headline["dates"]),
        "skipped": int(headline["skipped"]),
        "periods_per_year": per_year,
    }
    return equity, long_short, ""


def universe_baseline(backtests: Mapping[str, Backtest]) -> str:
    """The baseline every ticker's model is tested against (see the module docstring).

    Raises:
        ValueError: the backtests share no baseline.
    """
    first = next(iter(backtests.values()))
    shared = [
        name for name in first.baselines if all(name in b.forecasts for b in backtests.values())
    ]
    if not shared:
        raise ValueError(
            "The per-ticker backtests share no baseline to test the model against. "
            f"Received: baselines={ {t: b.baselines for t, b in backtests.items()} }"
        )
    task = task_named(first.task)
    if task.reference in shared:
        return task.reference
    totals = {name: _total_loss(backtests, name) for name in shared}
    return min(shared, key=lambda name: totals[name])


def _total_loss(backtests: Mapping[str, Backtest], name: str) -> float:
    return float(sum(_losses(backtest, name).sum() for backtest in backtests.values()))


def _losses(backtest: Backtest, name: str) -> np.ndarray:
    return task_named(backtest.task).loss_values(backtest.actual, backtest.point(name))


def _dm_p(backtest: Backtest, baseline: str, test: DMTest) -> float:
    """The DM p-value, NaN where the test cannot run (too few windows for its variance)."""
    try:
        return compare_mean_loss(backtest, baseline, test).p_value
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return math.nan


def dm_scores(
    backtests: Mapping[str, Backtest],
    baseline: str,
    *,
    alpha: float,
    test: DMTest = "hac",
    sectors: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-ticker DM table (``PER_TICKER_COLUMNS``, index ``ticker``) and its summary.

    A ticker's verdict is ``better`` or ``worse`` where its BH-adjusted p-value is at most
    ``alpha`` (by the sign of the mean loss difference), else ``no significant
    difference``; ``not tested`` where the test could not run.
    """
    rows = {}
    for ticker, backtest in backtests.items():
        model, other = _losses(backtest, MODEL).mean(), _losses(backtest, baseline).mean()
        rows[ticker] = {
            "sector": (sectors or {}).get(ticker, ""),
            "windows": len(backtest.origins),
            "loss_model": float(model),
            "loss_baseline": float(other),
            "loss_ratio": float(model / other) if other > 0 else math.nan,
            "dm_p": _dm_p(backtest, baseline, test),
        }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("ticker")
    bh = adjust_p_values(table["dm_p"], method="bh", alpha=alpha)
    holm = adjust_p_values(table["dm_p"], method="holm", alpha=alpha)
    table["p_bh"], table["p_holm"] = bh.adjusted, holm.adjusted
    better = table["loss_model"] < table["loss_baseline"]
    table["verdict"] = np.select(
        [table["dm_p"].isna(), bh.rejected & better, bh.rejected & ~better],
        ["not tested", "better", "worse"],
        "no significant difference",
    )
    loss = task_named(next(iter(backtests.values())).task).loss_name
    summary = {"baseline": baseline, "test": test, "loss": loss, "tested": bh.tested}
    summary.update(_dm_counts(bh, holm, better, baseline))
    return table.reindex(columns=PER_TICKER_COLUMNS), summary


def _dm_counts(
    bh: MultipleTests, holm: MultipleTests, better: pd.Series, baseline: str
) -> dict[str, Any]:
    """``alpha``, the wins and losses under each control, and the sentence that says so."""
    counts = {
        name: {
            "better": int((tests.rejected & better).sum()),
            "worse": int((tests.rejected & ~better).sum()),
        }
        for name, tests in (("bh", bh), ("holm", holm))
    }
    sentence = (
        significant_count_sentence(bh, better=better, claim=f"The model beats {baseline}")
        + f"; {counts['holm']['better']} after FWER control (Holm); significantly worse "
        f"than {baseline} on {counts['bh']['worse']} (BH)"
    )
    return {"alpha": bh.alpha, **counts, "sentence": sentence}
