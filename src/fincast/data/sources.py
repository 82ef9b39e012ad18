"""Market data sources: the bundled sample, yfinance, and user CSV/Parquet files.

Every source returns ``dict[ticker, DataFrame]``: one frame per ticker, indexed by
a tz-naive ``DatetimeIndex`` named ``date`` (the exchange's trading day), with the
float columns of :data:`PRICE_COLUMNS` (``adj_close`` may be absent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.paths import sample_data_dir

PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")
REQUIRED_COLUMNS = ("open", "high", "low", "close", "volume")
SAMPLE_FILE = "sp500_nasdaq_daily.csv"

logger = logging.getLogger(__name__)


class MarketDataError(ValueError):
    """Input data that cannot be used as it is (bad file, bad columns, bad values)."""


class MarketDataUnavailable(RuntimeError):
    """A source could not deliver data for a ticker (offline, unknown symbol, rate limit)."""

    def __init__(self, ticker: str, cause: str, advice: str) -> None:
        self.ticker = ticker
        self.cause = cause
        self.advice = advice
        super().__init__(f"No market data for {ticker!r}: {cause}. {advice}")


def sample_tickers(data_dir: Path | None = None) -> list[str]:
    """Tickers in the bundled sample data set."""
    path = (data_dir or sample_data_dir()) / SAMPLE_FILE
    return sorted(pd.read_csv(path, usecols=["ticker"])["ticker"].unique())


def load_sample(tickers: Sequence[str], data_dir: Path | None = None) -> dict[str, pd.DataFrame]:
    """Load bundled daily bars (S&P 500 ``^GSPC`` and NASDAQ Composite ``^IXIC``).

    Raises:
        MarketDataError: a requested ticker is not in the sample.
    """
    path = (data_dir or sample_data_dir()) / SAMPLE_FILE
    panel = pd.read_csv(path, parse_dates=["date"], date_format="%Y-%m-%d")
    available = sorted(panel["ticker"].unique())
    missing = [ticker for ticker in tickers if ticker not in available]
    if missing:
        raise MarketDataError(
            f"Ticker(s) {', '.join(missing)} are not in the bundled sample; it has "
            f"{', '.join(available)}. Use data=yfinance or data=csv for other series."
        )
    return {
        ticker: _tidy(panel[panel["ticker"] == ticker].drop(columns="ticker")) for ticker in tickers
    }


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    tidy = frame.set_index("date").sort_index()
    tidy.index = pd.DatetimeIndex(tidy.index, name="date")
    columns = [column for column in PRICE_COLUMNS if column in tidy.columns]
    return tidy[columns].astype("float64")


def _column_key(name: object) -> str:
    """Case-, space- and underscore-insensitive column key: 'Adj Close' == 'adj_close'."""
    return str(name).strip().lower().replace(" ", "").replace("_", "")


def _match_columns(found: Sequence[str], mapping: dict[str, str], where: str) -> dict[str, str]:
    """Map actual column names to fincast names, case-insensitively."""
    by_key = {_column_key(name): str(name) for name in found}
    renames: dict[str, str] = {}
    for target, wanted in mapping.items():
        actual = by_key.get(_column_key(wanted))
        if actual is not None:
            renames[actual] = target
    missing = [
        f"{target} (looked for {mapping[target]!r})"
        for target in ("date", *REQUIRED_COLUMNS)
        if target in mapping and target not in renames.values()
    ]
    if missing:
        raise MarketDataError(
            f"{where} is missing column(s) {', '.join(missing)}; found columns: "
            f"{', '.join(map(str, found))}. Set data.columns.<name> to the matching column."
        )
    return renames


def load_table(
    path: str | Path,
    *,
    tickers: Sequence[str] = (),
    columns: dict[str, str] | None = None,
    ticker_column: str | None = None,
    date_format: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Load daily bars from a user CSV or Parquet file.

    Args:
        path: ``.csv`` (optionally compressed) or ``.parquet`` file.
        tickers: tickers to keep (all when empty). Without ``ticker_column`` the file
            holds one series, named by the first ticker or the file's stem.
        columns: fincast name -> column name in the file (case-insensitive); defaults
            to the same names (``date``, ``open``, ... ``volume``, ``adj_close``).
        ticker_column: column holding the ticker, for several tickers in one file.
        date_format: ``strftime`` format of the date column; ISO dates need none.

    Raises:
        MarketDataError: the file is missing, unreadable, or lacks a needed column.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise MarketDataError(f"Data file {str(file_path)!r} does not exist; set data.path.")
    try:
        if file_path.suffix.lower() == ".parquet":
            raw = pd.read_parquet(file_path)
        else:
            raw = pd.read_csv(file_path)
    except Exception as error:  # pandas raises many types for unreadable files
        raise MarketDataError(f"Cannot read {str(file_path)!r}: {error}") from error
    mapping = {name: name for name in ("date", *PRICE_COLUMNS)} | dict(columns or {})
    if ticker_column:
        mapping["ticker"] = ticker_column
    renames = _match_columns(list(raw.columns), mapping, f"File {file_path.name!r}")
    table = raw.rename(columns=renames)[list(renames.values())]
    try:
        table["date"] = pd.to_datetime(table["date"], format=date_format)
    except (ValueError, TypeError) as error:
        raise MarketDataError(
            f"File {file_path.name!r}: cannot parse column {mapping['date']!r} as dates "
            f"(format={date_format!r}): {error}. Set data.date_format, e.g. '%m/%d/%Y'."
        ) from error
    if "ticker" not in table.columns:
        name = tickers[0] if tickers else file_path.stem
        return {name: _tidy(table)}
    groups = {str(name): group.drop(columns="ticker") for name, group in table.groupby("ticker")}
    wanted = list(tickers) or sorted(groups)
    missing = [ticker for ticker in wanted if ticker not in groups]
    if missing:
        raise MarketDataError(
            f"File {file_path.name!r} has no rows for {', '.join(missing)}; "
            f"it has {', '.join(sorted(groups))}."
        )
    return {ticker: _tidy(groups[ticker]) for ticker in wanted}


def yfinance_frame_to_bars(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """Turn one yfinance ``download``/``history`` frame into fincast's bar format.

    Handles yfinance's two-level ``(Price, Ticker)`` columns, with or without
    ``Adj Close``, and converts a tz-aware index to tz-naive exchange dates.
    """
    if isinstance(frame.columns, pd.MultiIndex):
        levels = [list(frame.columns.get_level_values(level)) for level in range(2)]
        ticker_level = 1 if ticker in levels[1] else 0
        frame = pd.DataFrame(frame.xs(ticker, axis=1, level=ticker_level))
    renamed = frame.rename(columns=lambda name: str(name).strip().lower().replace(" ", "_"))
    index = pd.DatetimeIndex(renamed.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    renamed.index = index.normalize().rename("date")
    renamed.columns.name = None
    columns = [column for column in PRICE_COLUMNS if column in renamed.columns]
    return renamed[columns].astype("float64").sort_index()


def fetch_yfinance(
    tickers: Sequence[str],
    *,
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
    auto_adjust: bool = False,
    download: Callable[..., Any] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[MarketDataUnavailable]]:
    """Download daily bars from Yahoo Finance, one ticker at a time.

    yfinance reports failures in two ways (see the README): it raises (DNS or
    connection errors, rate limits) or returns an empty frame. Both become a
    :class:`MarketDataUnavailable` in the returned failures; one bad ticker does
    not stop the others.

    Returns:
        The bars of every ticker that worked, and one failure per ticker that did not.
    """
    if download is None:
        import yfinance

        download = yfinance.download
    results: dict[str, pd.DataFrame] = {}
    failures: list[MarketDataUnavailable] = []
    for ticker in tickers:
        try:
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
            failures.append(
                MarketDataUnavailable(
                    ticker,
                    f"{type(error).__name__}: {error}",
                    "Check your network connection and retry later, or use data=sample.",
                )
            )
            continue
        if frame is None or frame.empty:
            failures.append(
                MarketDataUnavailable(
                    ticker,
                    "Yahoo Finance returned no rows (offline, rate-limited or unknown symbol)",
                    "Check the symbol on finance.yahoo.com, retry later, or use data=sample.",
                )
            )
            continue
        results[ticker] = yfinance_frame_to_bars(frame, ticker)
    for failure in failures:
        logger.error("%s", failure)
    return results, failures
