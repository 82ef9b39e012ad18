"""Ticker symbols checked where they enter fincast, before anything reads, fetches or writes.

A Yahoo Finance symbol is short and plain: letters, digits and ``. - ^ = &``, e.g.
``^GSPC``, ``BRK-B``, ``EURUSD=X``, ``0700.HK``, ``M&M.NS``. Anything else (a pasted
HTML snippet, a 5,000-character string, a path) is refused with one line that quotes
the value, shortened, and says what would work; it never reaches the cache, whose
file names are built from the symbol, or Yahoo.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fincast.data.sources import MarketDataError

MAX_TICKER_LENGTH = 20
ALLOWED = "letters, digits and . - ^ = &"
EXAMPLES = "^GSPC, BRK-B, EURUSD=X, 0700.HK"
_SYMBOL = re.compile(r"[A-Za-z0-9^][A-Za-z0-9.\-^=&]*")
_SEPARATORS = re.compile(r"[,;\s]+")
_QUOTED_LENGTH = 40


def quote_value(value: str, limit: int = _QUOTED_LENGTH) -> str:
    """``repr(value)``, shortened to about ``limit`` characters with its full length.

    >>> quote_value("A" * 5000)
    "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA…' (5000 characters)"
    """
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}"[:-1] + f"…' ({len(value)} characters)"


def _problem(value: str) -> str:
    if not value.strip():
        return "it is empty"
    bad = sorted({char for char in value if not re.fullmatch(r"[A-Za-z0-9.\-^=&]", char)})
    if bad:
        shown = ", ".join(repr(char) for char in bad[:5])
        return f"it contains {shown}"
    if len(value) > MAX_TICKER_LENGTH:
        return f"it is longer than {MAX_TICKER_LENGTH} characters"
    return "it must start with a letter, a digit or ^"


def check_ticker(value: object) -> str:
    """``value`` if it is a well-formed Yahoo Finance symbol, else a one-line error.

    The symbol is kept as given (no case change); only its form is checked, not
    whether Yahoo knows it.

    >>> check_ticker("^GSPC")
    '^GSPC'

    Raises:
        MarketDataError: ``value`` is not a string, is empty, is longer than
            :data:`MAX_TICKER_LENGTH` characters or holds other characters than
            letters, digits and ``. - ^ = &``. The message quotes the value (shortened)
            and names what would work.
    """
    if not isinstance(value, str):
        raise MarketDataError(
            f"A ticker must be text such as {EXAMPLES}. Received: {value!r} "
            f"({type(value).__name__})"
        )
    if len(value) <= MAX_TICKER_LENGTH and _SYMBOL.fullmatch(value):
        return value
    raise MarketDataError(
        f"Ticker {quote_value(value)} is not a Yahoo Finance symbol: {_problem(value)}. "
        f"Use {ALLOWED}, at most {MAX_TICKER_LENGTH} characters, e.g. {EXAMPLES}."
    )


def check_tickers(values: Iterable[object]) -> list[str]:
    """Every ticker of ``values`` checked with :func:`check_ticker`, in order.

    Raises:
        MarketDataError: the first malformed ticker, quoted.
    """
    return [check_ticker(value) for value in values]


def parse_tickers(text: str, *, max_tickers: int | None = None) -> list[str]:
    """Tickers typed as free text: split on commas, semicolons and white space, no repeats.

    Every piece must be a well-formed symbol, so a pasted snippet such as
    ``<b>AAPL</b> x`` is refused as a whole instead of becoming several tickers.

    >>> parse_tickers("AAPL, msft;^GSPC  AAPL")
    ['AAPL', 'msft', '^GSPC']

    Args:
        text: what the user typed.
        max_tickers: the most tickers allowed at once (None: no limit).

    Raises:
        MarketDataError: no ticker, too many, or a malformed one (quoted, shortened).
    """
    if not isinstance(text, str):
        raise MarketDataError(f"Tickers must be text such as '{EXAMPLES}'. Received: {text!r}")
    names = list(dict.fromkeys(part for part in _SEPARATORS.split(text) if part))
    if not names:
        raise MarketDataError(f"No ticker given; type one or more, e.g. {EXAMPLES}.")
    if max_tickers is not None and len(names) > max_tickers:
        raise MarketDataError(
            f"At most {max_tickers} tickers at once. Received: {len(names)} tickers"
        )
    try:
        return check_tickers(names)
    except MarketDataError as error:
        if len(names) == 1:
            raise
        raise MarketDataError(f"{error} (in the text {quote_value(text)})") from None
