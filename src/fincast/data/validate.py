"""Check a ticker's daily bars before anything is trained on them, and apply a policy.

``check_bars`` measures (it never changes the data) and returns a
:class:`~fincast.data.report.ValidationReport`; ``apply_policy`` then raises, warns
or repairs (:mod:`fincast.data.repair`) as ``on_invalid`` says. ``validate`` does both.

Row and index checks are a pandera schema (:data:`BARS_SCHEMA`): unique, strictly
increasing dates; prices present and > 0; ``high >= max(open, close)``;
``low <= min(open, close)``; volume present and >= 0. Sessions are compared with the
exchange's trading calendar (:mod:`fincast.data.calendars`). A suspicious jump is a
one-day move of the modelled price with ``|log(p_t / p_{t-1})| > log(1 + max_daily_move)``:
with the default 0.4 that is a rise above +40 % or a fall below -28.6 %, which catches
unadjusted 2:1 (-50 %) and 3:2 (-33 %) splits but not a 1987-style -20 % crash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from fincast.data import calendars
from fincast.data.features import stale_opens, zero_ranges
from fincast.data.repair import repair_bars
from fincast.data.report import CHECKS, Finding, ValidationReport, finding
from fincast.data.sources import REQUIRED_COLUMNS, MarketDataError
from fincast.specs import DEFAULT_MAX_DAILY_MOVE, ON_INVALID, DataSpec

logger = logging.getLogger(__name__)


def _price_column(required: bool = True) -> pa.Column:
    return pa.Column(
        nullable=True,  # missing values are their own check, not a schema failure
        required=required,
        checks=[
            pa.Check(lambda s: s.notna(), ignore_na=False, name="missing_price"),
            pa.Check(lambda s: s > 0, name="non_positive_price"),
        ],
    )


def _spans_open_close(frame: pd.DataFrame) -> pd.Series:
    gaps = frame[["open", "high", "low", "close"]].isna().any(axis=1)
    return (frame["high"] >= frame[["open", "close"]].max(axis=1)) | gaps


def _inside_open_close(frame: pd.DataFrame) -> pd.Series:
    gaps = frame[["open", "high", "low", "close"]].isna().any(axis=1)
    return (frame["low"] <= frame[["open", "close"]].min(axis=1)) | gaps


def _increasing(dates: pd.Series) -> pd.Series:
    values = dates.to_numpy()
    return pd.Series(np.concatenate([[True], values[1:] >= values[:-1]]), index=dates.index)


BARS_SCHEMA = pa.DataFrameSchema(
    {
        **{name: _price_column() for name in ("open", "high", "low", "close")},
        "adj_close": _price_column(required=False),
        "volume": pa.Column(
            nullable=True,
            checks=[
                pa.Check(lambda s: s.notna(), ignore_na=False, name="missing_volume"),
                pa.Check(lambda s: s >= 0, name="negative_volume"),
            ],
        ),
    },
    index=pa.Index(
        checks=[
            pa.Check(lambda s: ~s.duplicated(keep="first"), name="duplicate_dates"),
            pa.Check(_increasing, name="unsorted_dates"),
        ]
    ),
    checks=[
        pa.Check(_spans_open_close, name="high_below_open_close"),
        pa.Check(_inside_open_close, name="low_above_open_close"),
    ],
    name="daily bars",
)


def check_bars(
    bars: pd.DataFrame,
    ticker: str,
    *,
    calendar: str | None = calendars.DEFAULT_CALENDAR,
    max_daily_move: float | None = DEFAULT_MAX_DAILY_MOVE,
    price: str = "adj_close",
    min_rows: int = 2,
) -> ValidationReport:
    """Run every check on ``bars`` without changing them.

    Args:
        bars: daily bars indexed by date, with the columns of ``REQUIRED_COLUMNS``.
        ticker: the symbol, quoted in messages.
        calendar: exchange calendar of the sessions (e.g. ``XNYS``); ``None`` skips
            the session checks.
        max_daily_move: bound of the suspicious-jump check (see the module notes);
            ``None`` skips it.
        price: the modelled price column, checked for jumps (``adj_close`` falls back
            to ``close`` when absent).
        min_rows: fewest rows that are worth checking.

    Raises:
        MarketDataError: missing columns or too few rows: nothing a policy can fix.
    """
    _check_shape(bars, ticker, min_rows)
    findings = {name: Finding(name) for name in CHECKS}
    findings.update(_schema_findings(bars))
    if calendar:
        findings.update(_session_findings(pd.DatetimeIndex(bars.index), calendar))
    if max_daily_move is not None:
        findings["suspicious_jump"] = _jump_finding(bars, price, max_daily_move)
    findings.update(_quirk_findings(bars))
    index = pd.DatetimeIndex(bars.index)
    return ValidationReport(
        ticker=ticker,
        rows=len(bars),
        first_date=str(index.min().date()),
        last_date=str(index.max().date()),
        calendar=calendar or None,
        findings=findings,
    )


def _check_shape(bars: pd.DataFrame, ticker: str, min_rows: int) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in bars.columns]
    if missing:
        raise MarketDataError(
            f"{ticker}: missing column(s) {', '.join(missing)}; found {', '.join(bars.columns)}."
        )
    if len(bars) < min_rows:
        raise MarketDataError(f"{ticker}: {len(bars)} rows, need at least {min_rows}.")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise MarketDataError(
            f"{ticker}: the index must hold dates; got {type(bars.index).__name__}."
        )


def _schema_findings(bars: pd.DataFrame) -> dict[str, Finding]:
    try:
        BARS_SCHEMA.validate(bars, lazy=True)
    except pa.errors.SchemaErrors as failed:
        cases = failed.failure_cases
    else:
        return {}
    found = {}
    for check, rows in cases.groupby("check", sort=False):
        dates = pd.DatetimeIndex(rows["index"].dropna().unique())
        if check in ("duplicate_dates", "unsorted_dates"):
            # one failure per offending row; their dates may repeat
            found[str(check)] = finding(str(check), dates, count=len(rows))
        elif check in CHECKS:
            found[str(check)] = finding(str(check), dates)
        else:  # a schema-level problem pandera reports on its own (should not happen)
            raise MarketDataError(
                f"Unexpected bars check failure {check}: {rows.iloc[0].to_dict()}"
            )
    return found


def _quirk_findings(bars: pd.DataFrame) -> dict[str, Finding]:
    """Stale opens and zero-range days (warnings: they bias realised measures, not prices)."""
    try:
        quirks = {"stale_open": stale_opens(bars), "zero_range": zero_ranges(bars)}
    except (TypeError, ValueError):  # unparseable prices are reported by the schema checks
        return {}
    index = pd.DatetimeIndex(bars.index)
    return {name: finding(name, index[mask.to_numpy(bool)]) for name, mask in quirks.items()}


def _session_findings(dates: pd.DatetimeIndex, calendar: str) -> dict[str, Finding]:
    missing, extra = calendars.session_gaps(dates, calendar)
    return {
        "missing_sessions": finding("missing_sessions", missing),
        "extra_sessions": finding("extra_sessions", extra),
    }


def _jump_finding(bars: pd.DataFrame, price: str, max_daily_move: float) -> Finding:
    if max_daily_move <= 0:
        raise ValueError(f"max_daily_move must be > 0. Received: max_daily_move={max_daily_move}")
    column = price if price in bars.columns else "close"
    series = bars[column]
    series = series[~series.index.duplicated(keep="last")].sort_index()
    series = series[series > 0]  # non-positive and missing prices have their own checks
    moves = series.astype("float64").apply(np.log).diff().abs()
    return finding("suspicious_jump", moves.index[moves > np.log1p(max_daily_move)])


def apply_policy(
    bars: pd.DataFrame, report: ValidationReport, on_invalid: str = "raise", *, min_rows: int = 2
) -> pd.DataFrame:
    """Act on ``report`` as ``on_invalid`` says and return the bars to use.

    ``raise``: a failed error check raises; warnings are logged. ``warn``: every
    failure is logged and the bars are returned unchanged. ``repair``: the bars are
    cleaned by :func:`fincast.data.repair.repair_bars`, and ``report.policy``,
    ``report.repairs`` and ``report.rows_after`` record what changed.

    Raises:
        MarketDataError: ``raise`` with a failed error check (one line naming each
            problem, its count and first date), or fewer than ``min_rows`` rows left
            after a repair.
        ValueError: an unknown ``on_invalid``.
    """
    if on_invalid not in ON_INVALID:
        raise ValueError(
            f"on_invalid must be one of {', '.join(ON_INVALID)}. "
            f"Received: on_invalid={on_invalid!r}"
        )
    report.policy = on_invalid
    if on_invalid == "raise" and report.errors:
        problems = "; ".join(found.describe() for found in report.errors)
        raise MarketDataError(
            f"{report.ticker}: {problems}. Set data.on_invalid=repair to clean the data "
            "or data.on_invalid=warn to use it as it is."
        )
    if on_invalid == "repair" and report.errors:
        bars, report.repairs = repair_bars(bars, calendar=report.calendar)
        report.rows_after = len(bars)
        if len(bars) < min_rows:
            raise MarketDataError(
                f"{report.ticker}: {len(bars)} rows left after repair, need at least {min_rows}."
            )
    if report.errors or report.warnings:
        logger.warning("Market data check: %s", report.summary())
    return bars


def validate(
    bars: pd.DataFrame,
    ticker: str,
    *,
    on_invalid: str = "raise",
    calendar: str | None = calendars.DEFAULT_CALENDAR,
    max_daily_move: float | None = DEFAULT_MAX_DAILY_MOVE,
    price: str = "adj_close",
    min_rows: int = 2,
) -> tuple[pd.DataFrame, ValidationReport]:
    """:func:`check_bars` then :func:`apply_policy`: the bars to use and the report."""
    report = check_bars(
        bars,
        ticker,
        calendar=calendar,
        max_daily_move=max_daily_move,
        price=price,
        min_rows=min_rows,
    )
    return apply_policy(bars, report, on_invalid, min_rows=min_rows), report


def validate_bars(bars: pd.DataFrame, ticker: str, *, min_rows: int = 2) -> pd.DataFrame:
    """Return ``bars`` if every row and index check passes, else raise a precise error.

    The strict check used before caching: no calendar and no jump check (a cache
    keeps what the source gave; the policy of a run decides what to do about it).

    Raises:
        MarketDataError: naming the ticker, each problem, its count and first date.
    """
    report = check_bars(bars, ticker, calendar=None, max_daily_move=None, min_rows=min_rows)
    if report.errors:
        raise MarketDataError(
            f"{ticker}: {'; '.join(found.describe() for found in report.errors)}."
        )
    return bars


@dataclass(frozen=True)
class ValidationPolicy:
    """The data checks of a run, as the ``data`` config group sets them.

    Attributes:
        on_invalid: ``raise``, ``warn`` or ``repair`` (see :func:`apply_policy`).
        calendar: default exchange calendar; ``None`` skips session checks.
        calendars: per-ticker calendars, e.g. ``{"VOD.L": "XLON"}``.
        max_daily_move: suspicious-jump bound (module notes); ``None`` skips it.
        price: the modelled price column, checked for jumps.
    """

    on_invalid: str = "raise"
    calendar: str | None = calendars.DEFAULT_CALENDAR
    calendars: Mapping[str, str] = field(default_factory=dict)
    max_daily_move: float | None = DEFAULT_MAX_DAILY_MOVE
    price: str = "adj_close"

    def __post_init__(self) -> None:
        if self.on_invalid not in ON_INVALID:
            raise ValueError(
                f"data.on_invalid must be one of {', '.join(ON_INVALID)}. "
                f"Received: on_invalid={self.on_invalid!r}"
            )
        if self.max_daily_move is not None and self.max_daily_move <= 0:
            raise ValueError(
                f"data.max_daily_move must be > 0 or null. Received: {self.max_daily_move}"
            )

    @classmethod
    def of(cls, data: DataSpec, price: str) -> ValidationPolicy:
        """The checks a job's ``data`` settings ask for, on the modelled ``price`` column."""
        return cls(
            on_invalid=data.on_invalid,
            calendar=data.calendar or None,
            calendars=dict(data.calendars),
            max_daily_move=data.max_daily_move,
            price=price,
        )

    def calendar_of(self, ticker: str) -> str | None:
        """The calendar that ``ticker``'s sessions are checked against."""
        return calendars.calendar_for(ticker, self.calendar, self.calendars)

    def validate(self, bars: pd.DataFrame, ticker: str) -> tuple[pd.DataFrame, ValidationReport]:
        """:func:`validate` with this policy."""
        return validate(
            bars,
            ticker,
            on_invalid=self.on_invalid,
            calendar=self.calendar_of(ticker),
            max_daily_move=self.max_daily_move,
            price=self.price,
        )
