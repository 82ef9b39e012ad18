"""Cross-sectional evaluation of one walk-forward over several tickers, as quant desks report it.

From the per-ticker :class:`Backtest` records of one walk-forward (every ticker on
the same folds), :func:`evaluate_universe` computes (see
:mod:`fincast.evaluation.universe_scores` for each definition):

- the per-date IC and rank IC of the model's ``h``-day forecast against the realised
  ``h``-day return, with their mean, standard deviation, ICIR and t-statistic;
- long-short quantile portfolios (quintiles by default) on non-overlapping origins,
  with costs per unit of turnover, turnover and an optional sector-neutral book;
- per-ticker Diebold-Mariano tests of the model against one baseline on the task's
  own loss, with Benjamini-Hochberg and Holm control ("beats naive on k of N tickers");
- the tickers left out for too little history, each with its reason.

The volatility task gets the per-ticker DM summary only: its forecasts are not
returns, so IC and portfolios are ``None`` (the summary's ``notes`` say so).

:func:`save_universe` writes ``summary.json``, ``ic.csv``, ``equity.csv`` and
``per_ticker.csv`` into a folder (``backtest/universe/`` of the walk-forward's output
and of its MLflow run); :func:`load_universe` reads them back for the dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from fincast.evaluation.backtest_record import Backtest
from fincast.evaluation.forecasters import MODEL
from fincast.evaluation.report import json_value
from fincast.evaluation.stats import TEST_LABELS, DMTest, format_p
from fincast.evaluation.tasks import task_named
from fincast.evaluation.universe_scores import (
    IC_COLUMNS,
    PER_TICKER_COLUMNS,
    dm_scores,
    ic_scores,
    portfolio_scores,
    signal_frames,
    universe_baseline,
)
from fincast.specs import CrossSectionSpec

FOLDER = "universe"
SUMMARY, IC, EQUITY, PER_TICKER = "summary.json", "ic.csv", "equity.csv", "per_ticker.csv"


class Universe(NamedTuple):
    """The cross-sectional scores of one walk-forward (unpacks as a 4-tuple).

    Attributes:
        summary: the headline figures (the ``summary.json`` document).
        ic: per scored date (index ``date``): ``ic``, ``rank_ic``, ``tickers``.
        equity: per rebalance date (index ``date``, the origin; a row includes the
            return earned over the ``h`` sessions after it): growth of 1 of each bucket
            ``q1``..``qN`` (lowest forecasts first), ``long_short`` (before costs) and
            ``long_short_net``.
        per_ticker: per ticker (index ``ticker``): ``PER_TICKER_COLUMNS``.
    """

    summary: dict[str, Any]
    ic: pd.DataFrame
    equity: pd.DataFrame
    per_ticker: pd.DataFrame


def _check(backtests: Mapping[str, Backtest]) -> Backtest:
    if not backtests:
        raise ValueError("evaluate_universe needs at least one ticker's backtest; received none.")
    first = next(iter(backtests.values()))
    odd = {
        ticker: (b.task, b.horizon)
        for ticker, b in backtests.items()
        if (b.task, b.horizon) != (first.task, first.horizon) or MODEL not in b.forecasts
    }
    if odd:
        raise ValueError(
            "Every backtest of a universe must forecast the same task and horizon, with the "
            f"model. Received: {first.ticker}={first.task, first.horizon}, differing {odd}"
        )
    return first


def evaluate_universe(
    backtests: Mapping[str, Backtest],
    spec: CrossSectionSpec,
    *,
    model: str = "",
    sectors: Mapping[str, str] | None = None,
    left_out: Mapping[str, str] | None = None,
    dm_test: DMTest = "hac",
) -> Universe:
    """Every cross-sectional score of one walk-forward's per-ticker backtests.

    Args:
        backtests: one walk-forward's backtest per ticker, the model included.
        spec: ``evaluation.cross_section`` (quantiles, costs, sector-neutral, alpha,
            fewest tickers per date).
        model: the model's name, for the summary.
        sectors: ticker -> sector (``""`` unknown); the per-ticker table shows them and a
            sector-neutral book groups by them.
        left_out: tickers left out of the walk-forward, with the reason.
        dm_test: the Diebold-Mariano variant.

    Raises:
        ValueError: no backtests, or backtests of different tasks or horizons.
    """
    first = _check(backtests)
    task, horizon = task_named(first.task), first.horizon
    baseline = universe_baseline(backtests)
    per_ticker, dm = dm_scores(backtests, baseline, alpha=spec.alpha, test=dm_test, sectors=sectors)
    summary: dict[str, Any] = {
        "task": task.name,
        "model": model,
        "baseline": baseline,
        "tickers": len(backtests),
        "horizon": horizon,
        "signal": None,
        "ic": None,
        "rank_ic": None,
        "portfolios": None,
        "dm": dm,
        "left_out": dict(left_out or {}),
        "notes": [],
    }
    if not task.directional:
        summary["notes"].append(
            f"No IC or portfolios: the {task.name} task forecasts {task.units}, not returns."
        )
        ic = pd.DataFrame(columns=IC_COLUMNS).rename_axis("date")
        equity = pd.DataFrame(columns=["long_short", "long_short_net"]).rename_axis("date")
        return Universe(summary, ic, equity, per_ticker)
    ic, equity = _return_scores(backtests, spec, sectors, summary)
    return Universe(summary, ic, equity, per_ticker)


def _return_scores(
    backtests: Mapping[str, Backtest],
    spec: CrossSectionSpec,
    sectors: Mapping[str, str] | None,
    summary: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The IC table and equity curves of return forecasts; fills ``summary``'s signal,
    IC, rank IC, portfolios and notes."""
    horizon = summary["horizon"]
    summary["signal"] = (
        f"the model's forecast summed over the {horizon}-day horizon (the expected "
        f"{horizon}-day log return) per origin date, against the realised {horizon}-day "
        "log return"
    )
    forecasts, realised = signal_frames(backtests)
    ic, summary["ic"], summary["rank_ic"], ic_note = ic_scores(
        forecasts, realised, horizon=horizon, min_tickers=spec.min_tickers
    )
    chosen = sectors if spec.sector_neutral else None
    equity, long_short, book_note = portfolio_scores(
        forecasts,
        realised,
        horizon=horizon,
        quantiles=spec.quantiles,
        cost_bps=spec.cost_bps,
        sectors=chosen,
    )
    if long_short is not None:
        summary["portfolios"] = {
            "quantiles": spec.quantiles,
            "cost_bps": spec.cost_bps,
            "sector_neutral": chosen is not None,
            "long_short": long_short,
        }
    unsorted = "sector_neutral asked for, but no sectors were given: not sector-neutral"
    notes = [ic_note, book_note, unsorted if spec.sector_neutral and sectors is None else ""]
    summary["notes"] += [text for text in notes if text]
    return ic, equity


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return json_value(value)


def save_universe(universe: Universe, directory: str | Path) -> list[Path]:
    """Write ``summary.json``, ``ic.csv``, ``equity.csv`` and ``per_ticker.csv`` (NaN as
    null in the JSON, empty in the CSVs) into ``directory``; return the paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in (SUMMARY, IC, EQUITY, PER_TICKER)]
    paths[0].write_text(json.dumps(_plain(universe.summary), indent=2))
    universe.ic.to_csv(paths[1], index_label="date")
    universe.equity.to_csv(paths[2], index_label="date")
    universe.per_ticker.to_csv(paths[3], index_label="ticker")
    return paths


def load_universe(directory: str | Path) -> Universe:
    """The scores :func:`save_universe` wrote into ``directory`` (dates parsed).

    Raises:
        FileNotFoundError: a file is missing (naming it).
    """
    folder = Path(directory)
    summary = json.loads((folder / SUMMARY).read_text())
    ic = pd.read_csv(folder / IC, index_col="date", parse_dates=["date"])
    equity = pd.read_csv(folder / EQUITY, index_col="date", parse_dates=["date"])
    per_ticker = pd.read_csv(
        folder / PER_TICKER,
        index_col="ticker",
        dtype={"ticker": str, "sector": object, "verdict": object},
        keep_default_na=False,
        na_values=[""],
    )
    per_ticker["sector"] = per_ticker["sector"].fillna("")
    return Universe(summary, ic, equity, per_ticker.reindex(columns=PER_TICKER_COLUMNS))


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:+.1%}"


def _ic_line(name: str, fields: dict[str, Any] | None, horizon: int) -> str:
    if not fields:
        return f"{name}: -"
    apart = (
        f"; t={_number(fields['t_stat_non_overlapping'], 3)} on "
        f"{fields['dates_non_overlapping']} non-overlapping dates"
        if horizon > 1
        else ""
    )
    return (
        f"{name}: mean {_number(fields['mean'])}, std {_number(fields['std'])}, "
        f"ICIR {_number(fields['icir'], 3)}, t={_number(fields['t_stat'], 3)} "
        f"({fields['dates']} dates, {fields['skipped']} skipped){apart}"
    )


def render_universe(universe: Universe) -> str:
    """The summary as text: IC, the long-short book, the DM sentence, per-ticker table."""
    summary = universe.summary
    lines = [
        f"Universe: {summary['tickers']} tickers, {summary['task']}, "
        f"{summary['horizon']}-day horizon, model {summary['model'] or MODEL}",
    ]
    if summary["signal"]:  # a return forecast: IC and portfolios apply
        lines += [
            f"Signal: {summary['signal']}",
            _ic_line("IC", summary["ic"], summary["horizon"]),
            _ic_line("Rank IC", summary["rank_ic"], summary["horizon"]),
        ]
    portfolios = summary["portfolios"]
    if portfolios:
        book = portfolios["long_short"]
        neutral = ", sector-neutral" if portfolios["sector_neutral"] else ""
        lines.append(
            f"Long-short (top minus bottom of {portfolios['quantiles']} buckets{neutral}, "
            f"rebalanced every {summary['horizon']} sessions, {portfolios['cost_bps']:g} bps "
            f"per unit of turnover): {_percent(book['annual_return'])} a year gross, "
            f"{_percent(book['net_annual_return'])} net, volatility "
            f"{_percent(book['annual_volatility']).lstrip('+')}, Sharpe "
            f"{_number(book['sharpe'], 3)} (net), mean turnover {_number(book['mean_turnover'], 3)}"
        )
    lines += [f"Note: {note}" for note in summary["notes"]]
    dm = summary["dm"]
    test = TEST_LABELS.get(dm["test"], dm["test"])
    lines += ["", f"{dm['sentence']} ({dm['loss']}; {test} test on the mean loss)"]
    table = universe.per_ticker.copy()
    for column in ("dm_p", "p_bh", "p_holm"):
        table[column] = [format_p(p) if p == p else "-" for p in table[column]]
    lines.append(table.to_string(float_format=lambda value: f"{value:.4g}", na_rep="-"))
    if summary["left_out"]:
        lines += ["", f"Left out for too little history ({len(summary['left_out'])}):"]
        lines += [f"  {ticker}: {reason}" for ticker, reason in summary["left_out"].items()]
    return "\n".join(lines)
