"""Which tickers a job means: names, ``all`` of a source, or a sector of the bundled panel.

``data.tickers`` is a list (or one string) whose entries are ticker symbols or selectors:

- ``all``: every ticker the source holds: the bundled sample or stocknet panel, the
  ticker column of a user CSV/Parquet file (``data.options.ticker_column``), or, for
  ``data=yfinance``, every ticker in the cache (``data.cache_dir``);
- ``sector:<name>``: the stocks of one sector of the stocknet panel, matched ignoring
  case, spaces and underscores (``sector:Technology``, ``sector:basic_materials``).

On the command line: ``data.tickers=all``, ``data.tickers=sector:Technology`` or
``'data.tickers=[sector:Utilities,AAPL]'``. Selectors are expanded once, when the job
spec is built, so every command (and each per-ticker job) sees plain symbols.

>>> select_tickers("stocknet", "sector:Conglomerates")[:3]
['AGFS', 'CODI', 'GMRE']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.data import sources
from fincast.data.cache import cached_tickers
from fincast.data.sources import MarketDataError

ALL = "all"
SECTOR_PREFIX = "sector:"


def as_list(tickers: object) -> list[str]:
    """``data.tickers`` as a list: one string becomes a list of one.

    >>> as_list("all"), as_list(("AAPL", "MSFT"))
    (['all'], ['AAPL', 'MSFT'])
    """
    if isinstance(tickers, str):
        return [tickers]
    if isinstance(tickers, Iterable):
        return list(tickers)
    raise MarketDataError(
        f"data.tickers must be a list of tickers, 'all' or 'sector:<name>'. Received: {tickers!r}"
    )


def is_selector(name: object) -> bool:
    """True for ``all`` and ``sector:<name>`` (any case)."""
    return isinstance(name, str) and (name.lower() == ALL or name.lower().startswith(SECTOR_PREFIX))


def select_tickers(
    source: str,
    tickers: object,
    *,
    cache_dir: str | Path = "data/cache",
    options: Mapping[str, Any] | None = None,
) -> list[str]:
    """``tickers`` with ``all`` and ``sector:<name>`` expanded, in order, without repeats.

    Symbols are kept as given, except that for ``stocknet`` each must be in the panel.

    Args:
        source: ``sample``, ``stocknet``, ``yfinance`` (``all``: the cache), ``csv``
            or ``parquet`` (``all``: the file's ticker column).
        tickers: ``data.tickers``: a list, or one string.
        cache_dir: the yfinance cache, listed for ``all``.
        options: the source's options (``path`` and ``ticker_column`` of a file).

    Raises:
        MarketDataError: one line naming the unknown ticker or sector and what would work.
    """
    names = as_list(tickers)
    if source != "stocknet" and not any(map(is_selector, names)):
        return names
    table = sources.stocknet_table() if source == "stocknet" else None
    selected: list[str] = []
    for name in names:
        if not is_selector(name):
            selected.append(name)
        elif name.lower() == ALL:
            selected += _all_of(source, cache_dir, dict(options or {}))
        elif table is None:
            raise MarketDataError(
                f"{name!r}: sectors are known only for the bundled panel (data=stocknet), "
                f"not for data={source}; name the tickers or use data.tickers=all."
            )
        else:
            selected += sector_tickers(table, name[len(SECTOR_PREFIX) :])
    if table is not None:
        _check_in_panel(selected, table)
    return list(dict.fromkeys(selected))


def sector_tickers(table: pd.DataFrame, sector: str) -> list[str]:
    """The stocks of ``sector`` in the stocknet ``table``, sorted.

    Raises:
        MarketDataError: an unknown sector, listing the panel's sectors.
    """
    key = _sector_key(sector)
    matched = table.index[table["sector"].map(_sector_key) == key]
    if not len(matched):
        raise MarketDataError(
            f"Unknown sector {sector!r}; the stocknet panel's sectors are "
            f"{', '.join(_sectors(table))} (e.g. data.tickers=sector:Technology)."
        )
    return sorted(map(str, matched))


def ticker_sectors(source: str, tickers: Iterable[str]) -> dict[str, str]:
    """The sector of each of ``tickers``: stocknet's own, ``""`` where it is not known.

    >>> ticker_sectors("stocknet", ["AAPL", "XOM"])
    {'AAPL': 'Consumer Goods', 'XOM': 'Basic Materials'}
    >>> ticker_sectors("sample", ["^GSPC"])
    {'^GSPC': ''}
    """
    names = list(tickers)
    if source != "stocknet":
        return dict.fromkeys(names, "")
    sectors = sources.stocknet_table()["sector"]
    return {name: str(sectors.get(name, "")) for name in names}


def known_sectors(sectors: Mapping[str, str]) -> dict[str, str] | None:
    """``sectors``, or ``None`` where no ticker's sector is known (nothing to neutralise).

    >>> known_sectors({"^GSPC": ""}) is None
    True
    """
    return dict(sectors) if any(sectors.values()) else None


def _all_of(source: str, cache_dir: str | Path, options: dict[str, Any]) -> list[str]:
    if source == "yfinance":
        found = cached_tickers(cache_dir)
        if not found:
            raise MarketDataError(
                f"'all' found no tickers in the cache {str(cache_dir)!r}; fetch some first, "
                "e.g. fincast-fetch data=yfinance data.tickers=[AAPL,MSFT]."
            )
        return found
    listers: dict[str, Callable[[], list[str]]] = {
        "sample": sources.sample_tickers,
        "stocknet": lambda: sorted(map(str, sources.stocknet_table().index)),
    }
    if source in listers:
        return listers[source]()
    found = sources.table_tickers(options.get("path", ""), options.get("ticker_column"))
    if not found:
        raise MarketDataError(f"'all' found no tickers in {options.get('path')!r}.")
    return found


def _check_in_panel(names: list[str], table: pd.DataFrame) -> None:
    unknown = [name for name in names if name not in table.index]
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0].upper(), list(map(str, table.index)), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise MarketDataError(
        f"Ticker(s) {', '.join(map(repr, unknown))} are not in the bundled stocknet panel"
        f"{hint}; name its tickers (data/stocknet/tickers.csv), data.tickers=all, or a "
        f"sector: data.tickers=sector:<name> with one of {', '.join(_sectors(table))}."
    )


def _sectors(table: pd.DataFrame) -> list[str]:
    return sorted(map(str, table["sector"].unique()))


def _sector_key(name: str) -> str:
    return "".join(name.lower().replace("_", " ").split())
