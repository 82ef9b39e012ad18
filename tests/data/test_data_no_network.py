"""No network is reported as no network: yfinance's real offline failures, classified.

The real yfinance runs against a proxy on a closed loopback port (curl's own
"could not connect" error); curl_cffi's and the socket layer's exception types are
fed as yfinance raises or logs them. Rate limits and unknown symbols keep their own kinds.
"""

from __future__ import annotations

import logging
import socket

import pytest
from curl_cffi.requests.exceptions import (
    ConnectionError,
    ConnectTimeout,
    DNSError,
    ImpersonateError,
    ProxyError,
)

from fincast.data.retry import RetryPolicy
from fincast.data.yahoo import YahooClient, YahooRequest
from fincast.data.yahoo_failures import NO_NETWORK, empty_reply, error_reply

CURL_DOCS = " See https://curl.se/libcurl/c/libcurl-errors.html first for more details."


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "error",
    [
        DNSError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com"),
        ConnectionError("Failed to perform, curl: (7) Failed to connect to 127.0.0.1 port 9"),
        ConnectTimeout("Failed to perform, curl: (28) Connection timed out after 10001 ms"),
        ProxyError("Failed to perform, curl: (5) Could not resolve proxy: proxy.invalid"),
        socket.gaierror(-3, "Temporary failure in name resolution"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_raised_network_errors_say_no_network(error: Exception) -> None:
    reply = error_reply("AAPL", error)
    assert reply.kind == "network"
    assert reply.cause.startswith(f"{NO_NETWORK} ({type(error).__name__}")
    assert "curl.se" not in reply.cause and "possibly delisted" not in reply.cause


@pytest.mark.parametrize(
    "line",
    [
        "['AAPL']: DNSError('Failed to perform, curl: (6) Could not resolve host: "
        f"query2.finance.yahoo.com (Domain name not found).{CURL_DOCS}')",
        "['AAPL']: ConnectionError('Failed to perform, curl: (7) Failed to connect to "
        f"query2.finance.yahoo.com:443 over proxy 127.0.0.1 after 0 ms: Could not connect to "
        f"server.{CURL_DOCS}')",
    ],
)
def test_logged_network_errors_say_no_network(line: str) -> None:
    reply = empty_reply("AAPL", ["1 Failed download:", line], None, None)
    assert reply.kind == "network" and reply.cause.startswith(NO_NETWORK)


def test_impersonation_failure_is_not_called_a_bad_symbol_or_no_network() -> None:
    error = ImpersonateError("Impersonating chrome152 is not supported")
    for reply in (
        error_reply("AAPL", error),
        empty_reply("AAPL", [f"['AAPL']: {error!r}"], None, None),
    ):
        assert reply.kind == "error"
        assert "before connecting" in reply.cause and "TensorFlow" in reply.cause
        assert NO_NETWORK not in reply.cause


def test_unknown_symbol_and_rate_limit_keep_their_kinds() -> None:
    delisted = "['ZZZZ']: YFTzMissingError('possibly delisted; no timezone found')"
    assert empty_reply("ZZZZ", [delisted], None, None).kind == "empty"
    assert empty_reply("ZZZZ", [], None, None).kind == "empty"
    limited = "['AAPL']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"
    assert empty_reply("AAPL", [limited], None, None).kind == "rate_limit"


def test_possibly_delisted_after_a_network_failure_is_no_network() -> None:
    answers = iter([DNSError("Could not resolve host: query2.finance.yahoo.com"), None])

    def download(ticker: str, **options: object) -> None:
        answer = next(answers)
        if answer is not None:
            raise answer
        logging.getLogger("yfinance").error(
            "['%s']: possibly delisted; no price data found (period=1mo)", ticker
        )

    policy = RetryPolicy(tries=1, empty_retries=0)
    client = YahooClient(YahooRequest(retry=policy), download=download, sleep=lambda _: None)
    assert client.fetch("AAPL").kind == "network"
    second = client.fetch("MSFT")
    assert second.kind == "network" and second.cause.startswith(NO_NETWORK)
    assert "failed earlier in this run" in second.cause


@pytest.mark.e2e
def test_real_yfinance_through_a_dead_proxy_says_no_network(monkeypatch) -> None:
    """Real yfinance, real curl_cffi, in this process: every call, not only the first."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    policy = RetryPolicy(tries=1, empty_retries=0)
    for ticker in ("AAPL", "MSFT", "AAPL"):
        client = YahooClient(YahooRequest(retry=policy), sleep=lambda _: None)
        reply = client.fetch(ticker)
        assert reply.kind == "network", reply.cause
        assert reply.cause.startswith(f"{NO_NETWORK} (ConnectionError: Failed to connect")
        assert "possibly delisted" not in reply.cause
