"""Exchange calendars: sessions, gaps and the next sessions after a date."""

from __future__ import annotations

import pandas as pd
import pytest

from fincast.data.calendars import calendar_for, next_sessions, session_gaps, sessions_between
from fincast.data.sources import MarketDataError, load_sample


def _iso(days: pd.DatetimeIndex) -> list[str]:
    return [day.date().isoformat() for day in days]


@pytest.mark.parametrize(
    ("calendar", "after", "expected"),
    [
        ("XNYS", "2018-12-31", ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-07"]),
        ("XNYS", "2024-03-28", ["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-04"]),
        ("XNYS", "2024-11-27", ["2024-11-29", "2024-12-02", "2024-12-03", "2024-12-04"]),
        ("XLON", "2024-12-24", ["2024-12-27", "2024-12-30", "2024-12-31", "2025-01-02"]),
        ("XNYS", "2018-12-29", ["2018-12-31", "2019-01-02", "2019-01-03", "2019-01-04"]),
    ],
)
def test_next_sessions_skip_weekends_and_holidays(calendar, after, expected) -> None:
    assert _iso(next_sessions(calendar, pd.Timestamp(after), 4)) == expected


def test_next_sessions_far_ahead_and_long_horizons() -> None:
    days = next_sessions("XNYS", pd.Timestamp.today().normalize() + pd.Timedelta(days=300), 60)
    assert len(days) == 60 and days.is_monotonic_increasing and days.is_unique


def test_next_sessions_rejects_a_zero_count() -> None:
    with pytest.raises(ValueError, match="count=0"):
        next_sessions("XNYS", pd.Timestamp("2024-01-02"), 0)


def test_bundled_sample_matches_the_new_york_calendar_exactly() -> None:
    for ticker, bars in load_sample(["^GSPC", "^IXIC"]).items():
        missing, extra = session_gaps(pd.DatetimeIndex(bars.index), "XNYS")
        assert missing.empty and extra.empty, ticker


def test_session_gaps() -> None:
    dates = pd.DatetimeIndex(["2024-01-02", "2024-01-06", "2024-01-08", "2024-01-02"])
    missing, extra = session_gaps(dates, "XNYS")
    assert _iso(missing) == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert _iso(extra) == ["2024-01-06"]
    missing, extra = session_gaps(pd.DatetimeIndex([]), "XNYS")
    assert missing.empty and extra.empty


def test_sessions_between_covers_old_dates_and_aliases() -> None:
    assert _iso(
        sessions_between("NYSE", pd.Timestamp("1987-10-16"), pd.Timestamp("1987-10-20"))
    ) == [
        "1987-10-16",
        "1987-10-19",
        "1987-10-20",
    ]
    assert sessions_between("XNYS", pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-01")).empty


def test_calendar_for() -> None:
    assert calendar_for("AAPL") == "XNYS"
    assert calendar_for("VOD.L", "XNYS", {"VOD.L": "XLON"}) == "XLON"
    assert calendar_for("AAPL", None) is None
    assert calendar_for("AAPL", "") is None


def test_unknown_calendar_is_named_with_examples() -> None:
    with pytest.raises(MarketDataError, match=r"Unknown trading calendar 'XXXX'.*XLON"):
        sessions_between("XXXX", pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"))
