"""What the market-data checks found, per ticker, and what a repair changed.

A :class:`ValidationReport` holds one :class:`Finding` per check in :data:`CHECKS`
(zero counts included, so tables of several tickers line up). ``to_frame()`` gives
the table that ``fincast-fetch`` prints and MLflow stores as ``data/validation.csv``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Severity = Literal["error", "warning", "note"]
EXAMPLES = 3  # dates quoted per check


@dataclass(frozen=True)
class CheckSpec:
    """One check: how bad a failure is, how to say it, and what ``repair`` does about it."""

    severity: Severity
    problem: str
    repair: str


CHECKS: dict[str, CheckSpec] = {
    "duplicate_dates": CheckSpec("error", "duplicated date", "dropped, keeping the last row"),
    "unsorted_dates": CheckSpec("error", "dates are not in increasing order", "sorted"),
    "missing_price": CheckSpec("error", "missing price", "row dropped"),
    "non_positive_price": CheckSpec("error", "non-positive price", "row dropped"),
    "high_below_open_close": CheckSpec(
        "error", "high below open/close", "high raised to max(open, close)"
    ),
    "low_above_open_close": CheckSpec(
        "error", "low above open/close", "low lowered to min(open, close)"
    ),
    "missing_volume": CheckSpec("error", "missing volume", "row dropped"),
    "negative_volume": CheckSpec("error", "negative volume", "row dropped"),
    "extra_sessions": CheckSpec("error", "day that is not a trading session", "row dropped"),
    "missing_sessions": CheckSpec("warning", "trading session missing", "kept (never filled)"),
    "suspicious_jump": CheckSpec(
        "warning", "one-day price move beyond max_daily_move", "kept (check split adjustment)"
    ),
    # notes: quirks that bias realised measures, counted in the validation table and backtest
    # reports, never raised or logged (fincast.data.features.daily_variance works round them)
    "stale_open": CheckSpec(
        "note",
        "open equal to the previous close (a stale open)",
        "kept (daily variance from the Parkinson range estimator there)",
    ),
    "zero_range": CheckSpec(
        "note",
        "high equal to low (no intraday range)",
        "kept (daily variance from the squared close-to-close return there)",
    ),
}


@dataclass(frozen=True)
class Finding:
    """How many days failed one check, with the first few dates."""

    check: str
    count: int = 0
    dates: tuple[str, ...] = ()

    @property
    def spec(self) -> CheckSpec:
        return CHECKS[self.check]

    def describe(self) -> str:
        """E.g. ``negative volume on 3 day(s), first on 2024-01-04``."""
        first = f", first on {self.dates[0]}" if self.dates else ""
        return f"{self.spec.problem} on {self.count} day(s){first}"


def finding(check: str, dates: pd.DatetimeIndex | pd.Index, count: int | None = None) -> Finding:
    """A :class:`Finding` from the failing dates; ``count`` defaults to their number."""
    ordered = pd.DatetimeIndex(dates).sort_values()
    quoted = tuple(str(day.date()) for day in ordered[:EXAMPLES])
    return Finding(check, len(ordered) if count is None else int(count), quoted)


@dataclass
class ValidationReport:
    """The checks of one ticker's bars; ``repairs`` says what ``on_invalid=repair`` changed."""

    ticker: str
    rows: int
    first_date: str | None
    last_date: str | None
    calendar: str | None
    findings: dict[str, Finding]
    policy: str | None = None
    repairs: dict[str, int] = field(default_factory=dict)
    rows_after: int | None = None

    @property
    def errors(self) -> list[Finding]:
        """Failed checks whose data cannot be used as they are."""
        return [f for f in self.findings.values() if f.count and f.spec.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Failed checks worth a look that do not stop training (gaps, jumps)."""
        return [f for f in self.findings.values() if f.count and f.spec.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no error check failed."""
        return not self.errors

    def counts(self) -> dict[str, int]:
        """Failing days per check."""
        return {name: found.count for name, found in self.findings.items()}

    def summary(self) -> str:
        """One line: the ticker, then each failed check with its count and first date."""
        failed = self.errors + self.warnings
        if not failed:
            return f"{self.ticker}: {self.rows} rows, all checks passed."
        problems = "; ".join(found.describe() for found in failed)
        line = f"{self.ticker}: {problems}."
        if self.repairs:
            changed = ", ".join(f"{name} {count}" for name, count in self.repairs.items() if count)
            line += f" Repaired ({changed or 'nothing to change'}): {self.rows_after} rows left."
        return line

    def to_frame(self) -> pd.DataFrame:
        """One row per check: ticker, check, severity, count, first dates, repair action."""
        rows = [
            {
                "ticker": self.ticker,
                "check": name,
                "severity": found.spec.severity,
                "count": found.count,
                "first_dates": " ".join(found.dates),
                "repaired": self.repairs.get(name, 0),
                "action": found.spec.repair if self.policy == "repair" and found.count else "",
            }
            for name, found in self.findings.items()
        ]
        return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))


REPORT_COLUMNS = ("ticker", "check", "severity", "count", "first_dates", "repaired", "action")


def reports_frame(reports: Iterable[ValidationReport]) -> pd.DataFrame:
    """The :meth:`ValidationReport.to_frame` tables of several tickers, stacked."""
    frames = [report.to_frame() for report in reports]
    if not frames:
        return pd.DataFrame(columns=list(REPORT_COLUMNS))
    return pd.concat(frames, ignore_index=True)
