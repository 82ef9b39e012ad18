"""Market data sources: the bundled sample and panel, user CSV/Parquet files (yfinance: ``yahoo``).

Every source returns ``dict[ticker, DataFrame]``: one frame per ticker, indexed by
a tz-naive ``DatetimeIndex`` named ``date`` (the session date in the exchange's local
time; see :mod:`fincast.data.yahoo` for the timezone policy), with the float columns
of :data:`PRICE_COLUMNS` (``adj_close`` may be absent).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pandas as pd

from fincast.paths import sample_data_dir, stocknet_data_dir

PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")
REQUIRED_COLUMNS = ("open", "high", "low", "close", "volume")
SAMPLE_FILE = "sp500_nasdaq_daily.csv"
# the bundled stocknet panel (data/stocknet/README.md): bars, and ticker,sector,company
STOCKNET_PRICES = "prices.csv.gz"
STOCKNET_TICKERS = "tickers.csv"


class MarketDataError(ValueError):
    """Input data that cannot be used as it is (bad file, bad columns, bad values)."""


class MarketDataUnavailable(RuntimeError):
    """A source could not deliver data for a ticker (offline, unknown symbol, rate limit)."""

    def __init__(self, ticker: str, cause: str, advice: str, *, kind: str = "unavailable") -> None:
        self.ticker = ticker
        self.cause = cause
        self.advice = advice
        self.kind = kind
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


def stocknet_table(data_dir: Path | None = None) -> pd.DataFrame:
    """The bundled panel's 88 stocks: ``sector`` and ``company``, indexed by ``ticker``."""
    path = (data_dir or stocknet_data_dir()) / STOCKNET_TICKERS
    return pd.read_csv(path, index_col="ticker", dtype=str)


@lru_cache(maxsize=1)
def _stocknet_panel(path: Path, modified_ns: int) -> dict[str, pd.DataFrame]:
    # one read per process (fincast-fetch loads the panel one ticker at a time); callers
    # get copies, so nobody changes the cached frames
    panel = pd.read_csv(path, parse_dates=["date"], date_format="%Y-%m-%d")
    return {
        str(ticker): _tidy(rows.drop(columns="ticker")) for ticker, rows in panel.groupby("ticker")
    }


def load_stocknet(tickers: Sequence[str], data_dir: Path | None = None) -> dict[str, pd.DataFrame]:
    """Daily bars of stocks of the bundled stocknet panel (2012-09-04 .. 2017-09-01), unchecked.

    The bars are a raw Yahoo download, as published: run the data checks on them
    (:func:`fincast.data.loading.load_checked_bars`). ``all`` and ``sector:<name>`` are
    expanded before this call (:func:`fincast.data.universe.select_tickers`).

    Raises:
        MarketDataError: a requested ticker is not in the panel.
    """
    path = (data_dir or stocknet_data_dir()) / STOCKNET_PRICES
    panel = _stocknet_panel(path, path.stat().st_mtime_ns)
    missing = [ticker for ticker in tickers if ticker not in panel]
    if missing:
        raise MarketDataError(
            f"Ticker(s) {', '.join(missing)} are not in the bundled stocknet panel; its "
            f"tickers are listed in {path.parent / STOCKNET_TICKERS}."
        )
    return {ticker: panel[ticker].copy() for ticker in tickers}


def table_tickers(path: str | Path, ticker_column: str | None) -> list[str]:
    """The tickers a user CSV or Parquet file holds (its stem when it has no ticker column).

    Raises:
        MarketDataError: the file is missing or unreadable, or lacks ``ticker_column``.
    """
    file_path = Path(path)
    if not ticker_column:
        return [file_path.stem]
    if not file_path.is_file():
        raise MarketDataError(
            f"Data file {str(file_path)!r} does not exist; set data.options.path."
        )
    wanted = _column_key(ticker_column)
    try:
        if file_path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            names = [
                name for name in pq.read_schema(file_path).names if _column_key(name) == wanted
            ]
            column = pd.read_parquet(file_path, columns=names[:1])
        else:
            column = pd.read_csv(file_path, usecols=lambda name: _column_key(name) == wanted)
    except Exception as error:  # pandas and pyarrow raise many types for unreadable files
        raise MarketDataError(f"Cannot read {str(file_path)!r}: {error}") from error
    if column.shape[1] != 1:
        raise MarketDataError(
            f"File {file_path.name!r} has no column {ticker_column!r}; "
            "set data.options.ticker_column to the column holding the tickers."
        )
    return sorted(column.iloc[:, 0].dropna().astype(str).unique())


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    tidy = frame.set_index("date").sort_index()
    tidy.index = pd.DatetimeIndex(tidy.index, name="date")
    columns = [column for column in PRICE_COLUMNS if column in tidy.columns]
    return tidy[columns].astype("float64")


def _column_key(name: object) -> str:
    """Case-, space- and underscore-insensitive column key: 'Adj Close' == 'adj_close'."""
    return str(name).strip().lower().replace(" ", "").replace("_", "")


def _match_columns(
    found: Sequence[str], mapping: dict[str, str], where: str, advice: str
) -> dict[str, str]:
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
            f"{', '.join(map(str, found))}. {advice}"
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
        raise MarketDataError(
            f"Data file {str(file_path)!r} does not exist; set data.options.path."
        )
    try:
        if file_path.suffix.lower() == ".parquet":
            raw = pd.read_parquet(file_path)
        else:
            raw = pd.read_csv(file_path)
    except Exception as error:  # pandas raises many types for unreadable files
        raise MarketDataError(f"Cannot read {str(file_path)!r}: {error}") from error
    return bars_from_table(
        raw,
        where=f"File {file_path.name!r}",
        name=tickers[0] if tickers else file_path.stem,
        tickers=tickers,
        columns=columns,
        ticker_column=ticker_column,
        date_format=date_format,
    )


def bars_from_table(
    raw: pd.DataFrame,
    *,
    where: str,
    name: str,
    tickers: Sequence[str] = (),
    columns: dict[str, str] | None = None,
    ticker_column: str | None = None,
    date_format: str | None = None,
    advice: str = "Set data.options.columns.<name> to the matching column.",
) -> dict[str, pd.DataFrame]:
    """Daily bars per ticker from a table with a date column, prices and volume.

    Args:
        raw: the table as read (column names are matched case-insensitively).
        where: what the table is, for error messages (``File 'x.csv'``).
        name: the ticker of a table without a ticker column.
        tickers: tickers to keep (all when empty).
        columns: fincast name -> column name in the table.
        ticker_column: column holding the ticker, for several tickers in one table.
        date_format: ``strftime`` format of the date column; ISO dates need none.
        advice: what to do about a missing column (the last sentence of that error).

    Raises:
        MarketDataError: a needed column is missing, or the dates do not parse.
    """
    mapping = {column: column for column in ("date", *PRICE_COLUMNS)} | dict(columns or {})
    if ticker_column:
        mapping["ticker"] = ticker_column
    renames = _match_columns(list(raw.columns), mapping, where, advice)
    table = raw.rename(columns=renames)[list(renames.values())]
    try:
        table["date"] = pd.to_datetime(table["date"], format=date_format)
    except (ValueError, TypeError) as error:
        raise MarketDataError(
            f"{where}: cannot parse column {mapping['date']!r} as dates "
            f"(format={date_format!r}): {error}. Set data.options.date_format, e.g. '%m/%d/%Y'."
        ) from error
    if "ticker" not in table.columns:
        return {name: _tidy(table)}
    groups = {str(key): group.drop(columns="ticker") for key, group in table.groupby("ticker")}
    wanted = list(tickers) or sorted(groups)
    missing = [ticker for ticker in wanted if ticker not in groups]
    if missing:
        raise MarketDataError(
            f"{where} has no rows for {', '.join(missing)}; it has {', '.join(sorted(groups))}."
        )
    return {ticker: _tidy(groups[ticker]) for ticker in wanted}
