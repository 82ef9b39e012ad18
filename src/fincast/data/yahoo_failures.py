"""How yfinance fails, turned into a :class:`Reply` with a kind, a cause and advice.

yfinance 1.7 fails in two ways (see ``FACTS.md``): it raises (DNS or connection errors,
which are ``OSError`` subclasses; ``YFRateLimitError``; HTTP errors) or returns an
empty frame and only logs the cause. :func:`muted_yfinance` captures those log lines
(and silences yfinance's warnings) so that the cause ends up in one clear message.

Kinds: ``rate_limit`` and ``network`` (retried), ``empty`` (usually a bad symbol,
retried at most ``empty_retries`` times), ``error`` (not retried), ``ok``. A DNS
failure, a refused or timed-out connection, an unreachable proxy or a TLS failure is a
``network`` reply whose cause starts with "no network: cannot reach Yahoo Finance"
(:data:`NO_NETWORK`), whether yfinance raised it or only logged it.
"""

from __future__ import annotations

import logging
import re
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from fincast.data.sources import MarketDataUnavailable

ADVICE = {
    "rate_limit": "Yahoo is rate-limiting: retry in a few minutes or fetch fewer tickers at "
    "once; meanwhile use the cache (data.refresh=never) or data=sample.",
    "network": "Check your network connection and retry later; meanwhile use the cache "
    "(data.refresh=never) or data=sample.",
    "empty": "Check the symbol on finance.yahoo.com (indices need a caret, e.g. ^GSPC) and "
    "data.options.start/end, retry later, or use data=sample.",
    "error": "Check the symbol and data.options, retry later, or use data=sample.",
}
NO_NETWORK = "no network: cannot reach Yahoo Finance"
_RATE_LIMIT_WORDS = ("ratelimit", "rate limit", "too many requests", "429")
# What curl, curl_cffi, requests and the socket layer say when Yahoo cannot be reached.
_NETWORK_WORDS = (
    "dnserror",
    "resolve host",
    "resolve proxy",
    "name or service not known",
    "temporary failure in name resolution",
    "connectionerror",
    "connection refused",
    "connection reset",
    "connection aborted",
    "failed to connect",
    "could not connect",
    "couldn't connect",
    "network is unreachable",
    "no route to host",
    "timeout",
    "timed out",
    "proxyerror",
    "proxy",
    "sslerror",
    "ssl connect error",
    "recv failure",
    "send failure",
    "empty reply from server",
    "max retries exceeded",
)
_CLIENT_BROKEN = "impersonat"  # curl_cffi broken in this process (loaded after TensorFlow)


def _kind_of_text(text: str) -> str:
    lowered = text.lower()
    if _CLIENT_BROKEN in lowered:
        return "error"
    if any(word in lowered for word in _RATE_LIMIT_WORDS):
        return "rate_limit"
    if any(word in lowered for word in _NETWORK_WORDS):
        return "network"
    return "empty"


def no_network(detail: str) -> str:
    """The cause shown when Yahoo cannot be reached, with what the client said.

    >>> no_network("DNSError: Could not resolve host: q.yahoo.com")
    'no network: cannot reach Yahoo Finance (DNSError: Could not resolve host: q.yahoo.com)'
    """
    return f"{NO_NETWORK} ({detail})" if detail else NO_NETWORK


def _from_network_layer(error: Exception) -> bool:
    """An error of the HTTP stack or the sockets: worth retrying, even if not recognised."""
    package = type(error).__module__.split(".")[0]
    network_types = (ConnectionError, TimeoutError, socket.gaierror)
    return isinstance(error, network_types) or (
        isinstance(error, OSError) and package in ("curl_cffi", "requests", "urllib3", "socket")
    )


def _client_broken(detail: str) -> str:
    return (
        f"the HTTP client failed before connecting ({detail}): curl_cffi was loaded after "
        "TensorFlow in this process"
    )


@dataclass
class Reply:
    """The outcome of one call to yfinance: bars, or a failure kind and its cause."""

    ticker: str
    bars: pd.DataFrame | None
    kind: str = "ok"
    cause: str = ""

    def failure(self) -> MarketDataUnavailable:
        """This failed reply as the error shown to the user."""
        return MarketDataUnavailable(self.ticker, self.cause, ADVICE[self.kind], kind=self.kind)


def error_reply(ticker: str, error: Exception) -> Reply:
    """The reply for an exception from yfinance: its kind decides whether to retry."""
    text = _tidy_detail(str(error).strip().splitlines()[0]) if str(error).strip() else ""
    cause = f"{type(error).__name__}: {text}" if text else type(error).__name__
    status = getattr(getattr(error, "response", None), "status_code", None)
    if type(error).__name__ == "YFRateLimitError" or status == 429:
        return Reply(ticker, None, "rate_limit", f"rate limited by Yahoo ({cause})")
    if isinstance(status, int):
        return Reply(ticker, None, "network" if status >= 500 else "error", cause)
    kind = _kind_of_text(cause)
    if kind == "network":
        return Reply(ticker, None, kind, no_network(cause))
    if kind == "error" and isinstance(error, OSError):
        return Reply(ticker, None, kind, _client_broken(cause))
    if kind == "rate_limit":
        return Reply(ticker, None, kind, f"rate limited by Yahoo ({cause})")
    return Reply(ticker, None, "network" if _from_network_layer(error) else "error", cause)


def after_network_failure(reply: Reply) -> Reply:
    """An empty answer after a network failure in the same run: a network failure too.

    Offline, yfinance soon stops reporting DNS errors and answers "possibly delisted;
    no timezone found" instead.
    """
    cause = f"it failed earlier in this run; now yfinance says: {reply.cause}"
    return Reply(reply.ticker, None, "network", no_network(cause))


def _tidy_detail(line: str) -> str:
    """yfinance's last word on a ticker, without curl's boilerplate.

    >>> _tidy_detail("['X']: DNSError('Failed to perform, curl: (6) Could not resolve host: "
    ...              "q.yahoo.com. See https://curl.se/libcurl/c/libcurl-errors.html first.')")
    'DNSError: Could not resolve host: q.yahoo.com'
    """
    detail = line.split("]: ", 1)[-1].strip()
    detail = re.sub(r"^(\w+)\(['\"](.*)['\"]\)$", r"\1: \2", detail)
    detail = re.sub(r"Failed to perform, curl: \(\d+\) ", "", detail)
    return re.sub(r"\.?\s*See https?://\S+.*$", "", detail).strip()[:300]


def empty_reply(ticker: str, said: list[str], start: str | None, end: str | None) -> Reply:
    """The reply for an empty frame, its kind read from what yfinance logged (``said``)."""
    span = f"{start or 'the first day'} .. {end or 'today'}"
    mine = [line for line in said if ticker.upper() in line.upper()] or said
    detail = _tidy_detail(mine[-1]) if mine else ""
    kind = _kind_of_text(detail) if detail else "empty"
    if kind == "network":
        return Reply(ticker, None, kind, no_network(detail))
    if kind == "error":
        return Reply(ticker, None, kind, _client_broken(detail))
    if detail:
        cause = f"{detail}; Yahoo Finance returned no rows for {span}"
    else:
        cause = f"Yahoo Finance returned no rows for {span} (offline or unknown symbol?)"
    return Reply(ticker, None, kind, cause)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(" ".join(record.getMessage().split()))


@contextmanager
def muted_yfinance() -> Iterator[list[str]]:
    """Collect yfinance's log lines (not print them) and silence its warnings."""
    yf_logger = logging.getLogger("yfinance")
    lines: list[str] = []
    handler = _ListHandler(lines)
    propagate = yf_logger.propagate
    yf_logger.addHandler(handler)
    yf_logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield lines
    finally:
        yf_logger.removeHandler(handler)
        yf_logger.propagate = propagate
