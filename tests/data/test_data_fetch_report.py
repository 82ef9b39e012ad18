"""The rows of fincast-fetch's summary and its progress lines, without a subprocess."""

from __future__ import annotations

from datetime import date

import pandas as pd

from fincast.cli.fetch import findings, progress_line, summary_row
from fincast.data.sources import MarketDataUnavailable
from fincast.data.sync import TickerOutcome
from fincast.specs import DataSpec


def sessions(rows: int, make_bars) -> pd.DataFrame:
    """Bars on real NYSE sessions: business days from 2024-01-02 up to 2024-01-12."""
    assert rows <= 9  # 2024-01-15 is Martin Luther King Jr. Day
    return make_bars(rows, start="2024-01-02")


def test_clean_bars_are_ok(make_bars) -> None:
    assert findings(sessions(9, make_bars), "AAPL") == "ok"


def test_findings_name_the_check_and_the_count(make_bars) -> None:
    bars = sessions(9, make_bars)
    bars.loc[bars.index[3], "volume"] = -1.0
    assert findings(bars, "AAPL") == "negative_volume=1"


def test_findings_follow_the_configured_calendar(make_bars) -> None:
    bars = make_bars(10, start="2024-01-02")  # the 10th business day is a NYSE holiday
    assert findings(bars, "AAPL") == "extra_sessions=1"
    assert findings(bars, "AAPL", DataSpec(calendar=None)) == "ok"
    assert findings(bars, "VOD.L", DataSpec(calendar=None, calendars={"VOD.L": "XNYS"})) != "ok"


def test_too_few_rows_is_shown_not_raised(make_bars) -> None:
    assert "1 rows" in findings(make_bars(1), "AAPL")


def test_rows_of_served_and_failed_tickers(make_bars) -> None:
    bars = sessions(5, make_bars)
    served = summary_row(TickerOutcome("AAPL", "cached", bars, today=date(2024, 1, 12)))
    assert served == {
        "ticker": "AAPL",
        "status": "cached",
        "rows": 5,
        "first": "2024-01-02",
        "last": "2024-01-08",
        "stale_days": 4,
        "validation": "ok",
        "error": "-",
    }
    failure = MarketDataUnavailable("BAD", "no rows", "Check the symbol.", kind="empty")
    failed = summary_row(TickerOutcome("BAD", "failed", error=failure))
    assert failed["rows"] == 0 and failed["last"] == "-"
    assert failed["error"] == "empty: no rows"


def test_progress_lines(make_bars) -> None:
    bars = sessions(5, make_bars)
    failure = MarketDataUnavailable("AAPL", "offline", "Retry later.", kind="network")
    stale = TickerOutcome("AAPL", "stale", bars, failure, today=date(2024, 1, 12))
    line = progress_line(1, 2, stale)
    assert line.startswith("[1/2] AAPL: error: No market data for 'AAPL': offline. Retry later.")
    assert line.endswith("Kept the cache (5 rows, 2024-01-02 .. 2024-01-08, 4 days old).")
    fresh = TickerOutcome("MSFT", "fetched", bars)
    assert progress_line(2, 2, fresh) == "[2/2] MSFT: fetched, 5 rows, 2024-01-02 .. 2024-01-08"
