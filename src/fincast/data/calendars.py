"""Exchange trading calendars: which days are sessions, per ticker.

A thin layer over the ``exchange_calendars`` library. Calendars are named by their
ISO MIC code (``XNYS`` New York, ``XLON`` London, ``XTKS`` Tokyo, ...). A calendar
object is built once per name and year range and then reused.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping

import exchange_calendars
import pandas as pd

from fincast.data.sources import MarketDataError

DEFAULT_CALENDAR = "XNYS"
# Calendars are built from January 1 of this year at the earliest (or the calendar's
# own first day, when later), and up to two years past the latest date asked for.
EARLIEST_YEAR = 1990
YEARS_AHEAD = 2


def calendar_for(
    ticker: str, default: str | None = DEFAULT_CALENDAR, overrides: Mapping[str, str] | None = None
) -> str | None:
    """The calendar name of ``ticker``: its override if any, else ``default``.

    ``None`` (or an empty name) means "no calendar": sessions are not checked.

    >>> calendar_for("VOD.L", "XNYS", {"VOD.L": "XLON"})
    'XLON'
    >>> calendar_for("AAPL", "XNYS", {"VOD.L": "XLON"})
    'XNYS'
    """
    name = (overrides or {}).get(ticker, default)
    return str(name) if name else None


def sessions_between(name: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Sessions of calendar ``name`` from ``start`` to ``end`` inclusive (tz-naive dates).

    Raises:
        MarketDataError: an unknown calendar name, or dates the calendar does not cover.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end < start:
        return pd.DatetimeIndex([], name="date")
    calendar = _calendar(name, start.year, end.year)
    sessions = calendar.sessions
    chosen = sessions[(sessions >= start) & (sessions <= end)]
    return pd.DatetimeIndex(chosen.as_unit("ns"), name="date")


def scheduled_sessions(name: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Sessions of calendar ``name`` as scheduled in advance: its sessions plus the ad-hoc
    closures (Hurricane Sandy, national days of mourning), which nobody knew ahead.

    >>> days = scheduled_sessions("XNYS", pd.Timestamp("2012-10-26"), pd.Timestamp("2012-10-31"))
    >>> [day.strftime("%m-%d") for day in days]
    ['10-26', '10-29', '10-30', '10-31']
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    sessions = sessions_between(name, start, end)
    closures = pd.DatetimeIndex(_calendar(name, start.year, end.year).adhoc_holidays)
    closures = closures.tz_localize(None) if closures.tz is not None else closures
    closures = closures[(closures >= start) & (closures <= end)]
    return sessions.union(pd.DatetimeIndex(closures.as_unit("ns"))).rename("date")


def next_sessions(name: str, after: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    """The first ``count`` sessions of calendar ``name`` strictly after ``after``.

    >>> [day.date().isoformat() for day in next_sessions("XNYS", pd.Timestamp("2018-12-31"), 2)]
    ['2019-01-02', '2019-01-03']
    """
    if count < 1:
        raise ValueError(f"count must be >= 1. Received: count={count}")
    after = pd.Timestamp(after).normalize()
    # 2 calendar days per session is ample: no exchange closes half of all days.
    window = sessions_between(
        name, after + pd.Timedelta(days=1), after + pd.Timedelta(days=count * 2 + 10)
    )
    return window[:count]


def session_gaps(dates: pd.DatetimeIndex, name: str) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Sessions missing from ``dates`` and dates that are not sessions, within their range.

    Returns:
        ``(missing, extra)``: calendar sessions between the first and the last date that
        ``dates`` lacks, and the dates of ``dates`` that are not sessions (weekends,
        holidays), each sorted and without repeats.
    """
    days = pd.DatetimeIndex(dates).normalize().unique().sort_values()
    if days.empty:
        empty = pd.DatetimeIndex([], name="date")
        return empty, empty
    sessions = sessions_between(name, days[0], days[-1])
    days = days.as_unit("ns")
    return sessions.difference(days), days.difference(sessions)


def _calendar(name: str, first_year: int, last_year: int) -> exchange_calendars.ExchangeCalendar:
    # Few distinct ranges, so the cache below builds each calendar about once per process.
    this_year = pd.Timestamp.today().year
    return _build(
        str(name).upper(), min(first_year, EARLIEST_YEAR), max(last_year, this_year) + YEARS_AHEAD
    )


@functools.lru_cache(maxsize=32)
def _build(name: str, first_year: int, last_year: int) -> exchange_calendars.ExchangeCalendar:
    if name not in exchange_calendars.get_calendar_names(include_aliases=True):
        raise MarketDataError(
            f"Unknown trading calendar {name!r}; use an exchange code such as XNYS (New York), "
            "XLON (London), XTKS (Tokyo), XETR (Xetra), or null to skip session checks."
        )
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 trips a pandas 3.1 deprecation inside its own code.
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return exchange_calendars.get_calendar(
                name, start=f"{first_year}-01-01", end=f"{last_year}-12-31"
            )
    except (ValueError, pd.errors.OutOfBoundsDatetime) as error:
        raise MarketDataError(
            f"Trading calendar {name} cannot cover {first_year}..{last_year}: {error}"
        ) from error
