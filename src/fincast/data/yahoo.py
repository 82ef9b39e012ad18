"""Daily bars from Yahoo Finance through yfinance, with its failures made explicit.

Timezone policy (one for all of fincast): a bar's index is the tz-naive **session
date in the exchange's local time**, named ``date``. yfinance's ``download`` already
returns tz-naive daily dates; a tz-aware index (``Ticker.history``, intraday stamps)
keeps its own wall-clock date (yfinance uses the exchange's timezone), then drops the
timezone and the time of day. A Tokyo bar stays on its Tokyo date, never on the UTC
date of the day before.

yfinance's failures, raised or silent, become a :class:`MarketDataUnavailable` with a
cause and advice (:mod:`fincast.data.yahoo_failures`). Rate limits and network errors
are retried with exponential backoff and full jitter (:mod:`fincast.data.retry`); an
empty answer, usually a bad symbol, is retried at most ``empty_retries`` times. The
user sees one clear line per failed ticker and no traceback.

yfinance gets fincast's curl_cffi session (:mod:`fincast.data.yahoo_session`); where
curl_cffi cannot work in this process (loaded after TensorFlow), the downloads run in
a child process (:mod:`fincast.data.yahoo_process`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fincast.data.retry import RetryPolicy, retry
from fincast.data.sources import PRICE_COLUMNS, MarketDataError, MarketDataUnavailable
from fincast.data.tickers import check_tickers
from fincast.data.yahoo_failures import (
    Reply,
    after_network_failure,
    empty_reply,
    error_reply,
    muted_yfinance,
)

DAILY_INTERVALS = ("1d", "5d", "1wk", "1mo", "3mo")
INTRADAY_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h")
REQUEST_KEYS = ("start", "end", "interval", "auto_adjust", "retry")
logger = logging.getLogger(__name__)
Download = Callable[..., Any]
Caller = Callable[..., Reply]  # (ticker, *, start, end, interval, auto_adjust) -> Reply


def check_interval(interval: str) -> str:
    """``interval`` if fincast can use it (daily or longer bars), else a clear error."""
    if interval in DAILY_INTERVALS:
        return interval
    if interval in INTRADAY_INTERVALS:
        raise MarketDataError(
            f"data.options.interval={interval!r} is intraday; fincast works on daily or longer "
            f"bars: {', '.join(DAILY_INTERVALS)}."
        )
    raise MarketDataError(
        f"Unknown data.options.interval={interval!r}; use one of {', '.join(DAILY_INTERVALS)}."
    )


def _check_date(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(pd.Timestamp(str(value)).date())
    except ValueError:
        raise MarketDataError(
            f"data.options.{name}={value!r} is not a date; use YYYY-MM-DD."
        ) from None


@dataclass(frozen=True)
class YahooRequest:
    """What to ask Yahoo for: ``start`` inclusive, ``end`` exclusive (as yfinance does)."""

    start: str | None = None
    end: str | None = None
    interval: str = "1d"
    auto_adjust: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> YahooRequest:
        """Check ``data.options`` of the yfinance source and build a request.

        Raises:
            MarketDataError: an unknown key or a bad value, naming it.
        """
        unknown = sorted(set(options) - set(REQUEST_KEYS))
        if unknown:
            raise MarketDataError(
                f"Unknown yfinance option(s) {', '.join(unknown)}; use {', '.join(REQUEST_KEYS)}."
            )
        auto_adjust = options.get("auto_adjust", False)
        if not isinstance(auto_adjust, bool):
            raise MarketDataError(
                f"data.options.auto_adjust must be true or false. Received: {auto_adjust!r}"
            )
        start = _check_date("start", options.get("start"))
        end = _check_date("end", options.get("end"))
        if start and end and start >= end:
            raise MarketDataError(f"data.options.start={start} must be before end={end}.")
        try:
            policy = RetryPolicy.from_options(options.get("retry"))
        except ValueError as error:
            raise MarketDataError(f"data.options.retry: {error}") from None
        interval = check_interval(str(options.get("interval", "1d")))
        return cls(start, end, interval, auto_adjust, policy)


def yfinance_frame_to_bars(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """Turn one yfinance ``download``/``history`` frame into fincast's bar format.

    Handles yfinance's two-level ``(Price, Ticker)`` columns in either order (also
    when yfinance upper-cased the symbol), with or without ``Adj Close``; applies the
    timezone policy of this module; keeps the last bar of a duplicated date.
    """
    if isinstance(frame.columns, pd.MultiIndex):
        frame = _one_ticker(frame, ticker)
    renamed = frame.rename(columns=lambda name: str(name).strip().lower().replace(" ", "_"))
    index = pd.DatetimeIndex(renamed.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    renamed.index = index.normalize().rename("date")
    renamed.columns.name = None
    renamed = renamed[~renamed.index.duplicated(keep="last")]
    columns = [column for column in PRICE_COLUMNS if column in renamed.columns]
    return renamed[columns].astype("float64").sort_index()


def _one_ticker(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    levels = [[str(value) for value in frame.columns.get_level_values(i)] for i in range(2)]
    price_level = 0 if any(value.lower() == "close" for value in levels[0]) else 1
    names = list(dict.fromkeys(levels[1 - price_level]))
    matches = [name for name in names if name.upper() == ticker.upper()]
    chosen = matches[0] if matches else names[0] if len(names) == 1 else ticker
    return pd.DataFrame(frame.xs(chosen, axis=1, level=1 - price_level))


def download_reply(
    download: Download,
    ticker: str,
    *,
    start: str | None,
    end: str | None,
    interval: str,
    auto_adjust: bool,
) -> Reply:
    """One call to ``download`` (``yfinance.download``) as a :class:`Reply`; never raises."""
    try:
        with muted_yfinance() as said:
            frame = download(
                ticker,
                start=start,
                end=end,
                interval=interval,
                auto_adjust=auto_adjust,
                progress=False,
                threads=False,
            )
    except Exception as error:  # yfinance raises curl, requests and its own errors
        return error_reply(ticker, error)
    if frame is None or frame.empty:
        return empty_reply(ticker, said, start, end)
    try:
        bars = yfinance_frame_to_bars(frame, ticker)
    except (KeyError, ValueError, TypeError) as error:
        return Reply(ticker, None, "error", f"unexpected yfinance frame: {error}")
    return Reply(ticker, bars) if len(bars) else empty_reply(ticker, said, start, end)


def yahoo_download() -> Download:
    """``yfinance.download`` with fincast's session, reporting every network error.

    yfinance hides a failed price request after the first few in a process and then
    logs "possibly delisted" instead; with ``hide_exceptions`` off during the call it
    logs the real error (e.g. ``DNSError``) every time, so "no network" stays "no
    network" in a long-lived process such as the dashboard.
    """
    import yfinance

    from fincast.data.yahoo_session import yahoo_session

    session = yahoo_session()

    def download(ticker: str, **options: Any) -> Any:
        debug = yfinance.config.debug
        hidden = debug.hide_exceptions
        debug.hide_exceptions = False
        try:
            return yfinance.download(ticker, session=session, **options)
        finally:
            debug.hide_exceptions = hidden

    return download


def default_caller() -> Caller:
    """Real yfinance here, or in a child process where curl_cffi cannot work here.

    curl_cffi loaded after TensorFlow cannot impersonate a browser (see
    :mod:`fincast.data.yahoo_session`); a fresh child process has no TensorFlow.
    """
    from fincast.data.yahoo_session import impersonation_works

    if impersonation_works():
        return functools.partial(download_reply, yahoo_download())
    from fincast.data.yahoo_process import ChildDownloader

    logger.info("curl_cffi was loaded after TensorFlow here: downloading in a child process.")
    return ChildDownloader()


class YahooClient:
    """Fetches one ticker at a time with retries; stops retrying once the network is down.

    Args:
        request: dates, interval, adjustment and retry policy.
        download: stands in for ``yfinance.download`` (tests inject fakes here); by
            default the real one, in this process or a child (:func:`default_caller`).
        sleep: how to wait between retries (tests pass a no-op).
    """

    def __init__(
        self,
        request: YahooRequest,
        *,
        download: Download | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.request = request
        self.policy = request.retry
        self.call: Caller = (
            default_caller() if download is None else functools.partial(download_reply, download)
        )
        self.sleep = sleep
        self.network_failed = False

    def attempt(self, ticker: str, start: str | None, end: str | None) -> Reply:
        """One call to yfinance as a :class:`Reply`, remembering network failures.

        Offline, yfinance soon stops reporting DNS errors and answers "possibly
        delisted; no timezone found" instead: after a network failure in this run,
        an empty answer counts as a network failure too, not as a bad symbol.
        """
        reply = self.call(
            ticker,
            start=start,
            end=end,
            interval=self.request.interval,
            auto_adjust=self.request.auto_adjust,
        )
        if reply.kind == "network":
            self.network_failed = True
        elif reply.kind == "empty" and self.network_failed:
            reply = after_network_failure(reply)
        return reply

    def _tries_for(self, reply: Reply) -> int:
        if reply.kind in ("rate_limit", "network"):
            return self.policy.tries
        return 1 + self.policy.empty_retries if reply.kind == "empty" else 1

    def fetch(self, ticker: str, *, start: str | None = None, end: str | None = None) -> Reply:
        """Bars of ``ticker`` from ``start`` (default: the request's) with retries."""
        reply = retry(
            lambda: self.attempt(ticker, start or self.request.start, end or self.request.end),
            self.policy,
            tries_for=self._tries_for,
            describe=lambda reply: f"{ticker}: {reply.cause}",
            sleep=self.sleep,
        )
        if reply.kind == "network" and self.policy.tries > 1:
            logger.warning("The network looks down: not retrying the remaining tickers.")
            self.policy = self.policy.single_try()
        return reply


def fetch_yfinance(
    tickers: Sequence[str],
    *,
    download: Download | None = None,
    sleep: Callable[[float], None] = time.sleep,
    **options: Any,
) -> tuple[dict[str, pd.DataFrame], list[MarketDataUnavailable]]:
    """Download bars for several tickers; one bad ticker does not stop the others.

    Args:
        tickers: Yahoo symbols.
        download: stands in for ``yfinance.download``.
        sleep: how to wait between retries.
        **options: ``start``, ``end``, ``interval``, ``auto_adjust``, ``retry``
            (see :class:`YahooRequest`).

    Returns:
        The bars of every ticker that worked, and one failure per ticker that did not.

    Raises:
        MarketDataError: a malformed ticker or option, before anything is fetched.
    """
    tickers = check_tickers(tickers)
    client = YahooClient(YahooRequest.from_options(options), download=download, sleep=sleep)
    results: dict[str, pd.DataFrame] = {}
    failures: list[MarketDataUnavailable] = []
    for ticker in tickers:
        reply = client.fetch(ticker)
        if reply.bars is not None:
            results[ticker] = reply.bars
        else:
            failures.append(reply.failure())
            logger.error("%s", failures[-1])
    return results, failures
