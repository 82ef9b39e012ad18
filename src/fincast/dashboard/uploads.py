"""A user's CSV of daily bars, read for the Data page with errors that say what to fix.

Every error names the file as the user uploaded it, and for a value that is not a
number or not a date, the row, the column and the value. The advice is what the user
can do in the file, since the dashboard has no column-mapping options.
"""

from __future__ import annotations

import io

import pandas as pd

from fincast.data.sources import PRICE_COLUMNS, MarketDataError, bars_from_table
from fincast.data.validate import validate_bars

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
COLUMNS_ADVICE = (
    "Name the columns in the file's header row date, open, high, low, close and volume "
    "(adj_close optional; any letter case) and upload it again."
)


def read_upload(
    data: bytes,
    name: str,
    *,
    file_name: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> pd.DataFrame:
    """Daily bars from an uploaded CSV (``date, open, high, low, close, volume[, adj_close]``).

    The bars pass the same strict checks as cached data.

    Args:
        data: the file's bytes.
        name: the series name the bars are checked and forecast under.
        file_name: the name of the file the user uploaded (for messages).
        max_bytes: the largest file accepted.

    Raises:
        MarketDataError: the file is too large, unreadable, lacks a column, holds a value
            that is not a number or a date (row and column named), or fails a check.
    """
    where = f"The uploaded file {file_name!r}" if file_name else "The uploaded file"
    if len(data) > max_bytes:
        raise MarketDataError(
            f"{where} has {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
            "Upload fewer rows (the forecast needs only the recent ones)."
        )
    try:
        raw = pd.read_csv(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError) as error:  # pandas' parser and empty-file errors
        raise MarketDataError(
            f"{where} cannot be read as CSV ({' '.join(str(error).split())}). Save it as "
            "comma-separated text with a header row, e.g. from a spreadsheet's 'CSV' export."
        ) from error
    check_values(raw, where)
    bars = bars_from_table(raw, where=where, name=name, advice=COLUMNS_ADVICE)
    return validate_bars(next(iter(bars.values())), name)


def check_values(raw: pd.DataFrame, where: str) -> None:
    """Raise on the first date or price cell that does not parse, naming row and column.

    Rows are counted as in a spreadsheet: the header is line 1, the first data row line 2.

    Raises:
        MarketDataError: ``where``, the line, the column, the value and what to write instead.
    """
    columns = {str(column).strip().lower(): column for column in raw.columns}
    date_column = columns.get("date")
    if date_column is not None:
        parsed = pd.to_datetime(raw[date_column], errors="coerce", format="ISO8601")
        _first_bad(raw[date_column], parsed, where, "a date; write dates as YYYY-MM-DD")
    for wanted in PRICE_COLUMNS:
        column = columns.get(wanted)
        if column is not None:
            parsed = pd.to_numeric(raw[column], errors="coerce")
            _first_bad(raw[column], parsed, where, "a number; use digits and a '.' decimal point")


def _first_bad(values: pd.Series, parsed: pd.Series, where: str, wanted: str) -> None:
    bad = parsed.isna() & values.notna()
    if not bad.any():
        return
    position = int(bad.to_numpy().argmax())
    value = str(values.iloc[position])
    shown = repr(value if len(value) <= 30 else value[:30] + "…")
    raise MarketDataError(
        f"{where}, line {position + 2}, column {str(values.name)!r}: {shown} is not {wanted}. "
        f"Fix that cell (and any like it: {int(bad.sum())} in this column) and upload again."
    )
