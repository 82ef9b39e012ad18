"""``fincast-fetch``: download (or load) market data, validate it, cache it, and summarise.

fincast-fetch data=yfinance 'data.tickers=[AAPL,MSFT]' data.options.start=2010-01-01

One progress line per ticker on stderr as it goes, then a summary table on stdout:
rows, first and last date, staleness (days since the last bar), validation findings
and the error, if any. Exit status 2 when any ticker failed (the good ones are
stored first); a failed refresh of a cached ticker counts as failed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from fincast.cli.common import fail, job_spec, run_hydra_app
from fincast.specs import DataSpec

if TYPE_CHECKING:
    import pandas as pd

    from fincast.data.sync import TickerOutcome

COMMAND = "fincast-fetch"
FAILED = ("failed", "stale")
ERROR_WIDTH = 90


def findings(bars: pd.DataFrame, ticker: str, data: DataSpec | None = None) -> str:
    """The validation findings of ``bars`` in a few words: ``ok`` or ``check=count, ...``.

    Args:
        bars: one ticker's bars.
        ticker: its symbol.
        data: the job's data settings: ``calendar``, ``calendars`` and
            ``max_daily_move`` (the defaults when not given).
    """
    from fincast.data.calendars import calendar_for
    from fincast.data.sources import MarketDataError
    from fincast.data.validate import check_bars

    data = data or DataSpec()
    calendar = calendar_for(ticker, data.calendar, data.calendars)
    try:
        report = check_bars(bars, ticker, calendar=calendar, max_daily_move=data.max_daily_move)
    except MarketDataError as error:
        return str(error)
    failed = report.errors + report.warnings
    return ", ".join(f"{found.check}={found.count}" for found in failed) or "ok"


def progress_line(number: int, total: int, outcome: TickerOutcome) -> str:
    """One line about one ticker: what happened and, for a failure, why and what to do."""
    prefix = f"[{number}/{total}] {outcome.ticker}:"
    bars = outcome.bars
    if bars is None or bars.empty:
        return f"{prefix} error: {outcome.error}"
    span = f"{len(bars):,} rows, {bars.index[0].date()} .. {bars.index[-1].date()}"
    if outcome.status == "stale":
        kept = f"Kept the cache ({span}, {outcome.age_days} days old)."
        return f"{prefix} error: {outcome.error} {kept}"
    return f"{prefix} {outcome.status}, {span}"


def _short(error: Exception | None) -> str:
    """The summary's error cell: the kind of failure and its cause, cut to fit."""
    if error is None:
        return "-"
    cause = str(getattr(error, "cause", "") or error)
    kind = str(getattr(error, "kind", "")).replace("_", " ")
    text = f"{kind}: {cause}" if kind else cause
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 3] + "..."


def summary_row(outcome: TickerOutcome, data: DataSpec | None = None) -> dict[str, object]:
    """The summary table's row of one ticker (``data``: see :func:`findings`)."""
    row: dict[str, object] = {
        "ticker": outcome.ticker,
        "status": outcome.status,
        "rows": 0,
        "first": "-",
        "last": "-",
        "stale_days": "-",
        "validation": "-",
        "error": _short(outcome.error),
    }
    bars = outcome.bars
    if bars is not None and not bars.empty:
        row["rows"] = len(bars)
        row["first"] = str(bars.index[0].date())
        row["last"] = str(bars.index[-1].date())
        row["stale_days"] = outcome.age_days
        row["validation"] = findings(bars, outcome.ticker, data)
    return row


def _load_other(data: DataSpec, ticker: str) -> TickerOutcome:
    """Load one ticker of a file or the bundled data under the job's ``data.on_invalid``."""
    from fincast.data.loading import load_bars
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.data.sync import TickerOutcome
    from fincast.data.validate import ValidationPolicy

    try:
        bars = load_bars(data.source, [ticker], options=dict(data.options), strict=False)[ticker]
        bars, _ = ValidationPolicy.of(data, "adj_close").validate(bars, ticker)
    except (MarketDataError, MarketDataUnavailable) as error:
        return TickerOutcome(ticker, "failed", error=error)
    return TickerOutcome(ticker, "loaded", bars)


def collect(data: DataSpec, tickers: list[str]) -> list[TickerOutcome]:
    """Fetch or load every ticker, printing one progress line each on stderr."""
    from fincast.data.sync import sync_yfinance

    total = len(tickers)
    done: list[TickerOutcome] = []

    def report(outcome: TickerOutcome) -> None:
        done.append(outcome)
        print(progress_line(len(done), total, outcome), file=sys.stderr, flush=True)

    if data.source == "yfinance":
        sync_yfinance(
            tickers,
            cache_dir=data.cache_dir,
            refresh=data.refresh,
            options=dict(data.options),
            on_outcome=report,
        )
    else:
        for ticker in tickers:
            report(_load_other(data, ticker))
    return done


def fetch(config: DictConfig) -> None:
    """The Hydra task of ``fincast-fetch``."""
    import pandas as pd

    from fincast.data.sources import MarketDataError

    data = job_spec(config, COMMAND).data
    if not data.tickers:
        fail(COMMAND, "data.tickers is empty; e.g. data.tickers=[AAPL,MSFT].")
    try:
        outcomes = collect(data, list(data.tickers))
    except (MarketDataError, ValueError) as error:  # bad options: nothing was fetched
        fail(COMMAND, error)
    table = pd.DataFrame([summary_row(outcome, data) for outcome in outcomes])
    print(table.to_string(index=False))
    failed = [outcome.ticker for outcome in outcomes if outcome.status in FAILED]
    if failed:
        rest = "the others are ready" if len(failed) < len(outcomes) else "nothing new was stored"
        print(
            f"{COMMAND}: error: {len(failed)} of {len(outcomes)} ticker(s) failed "
            f"({', '.join(failed)}); {rest}.",
            file=sys.stderr,
        )
        sys.exit(2)


def main() -> None:
    """Console entry point."""
    run_hydra_app(fetch)


if __name__ == "__main__":
    main()
