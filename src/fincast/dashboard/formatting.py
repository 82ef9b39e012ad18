"""How the dashboard writes numbers: percentages, p-values, prices, scores, and column units.

Plain functions from a number to the text a reader sees, and a registry of the columns
fincast's tables hold (:data:`COLUMNS`): each column's header with its unit and its
format. :func:`styled` turns a table into a pandas ``Styler`` (the numbers stay numbers,
so a browser still sorts them; the rendered text is the Styler's) and :func:`column_labels`
gives the headers for ``st.dataframe(..., column_config=...)``. No Streamlit here.

Rules: returns, volatilities, coverages and shares are percentages; p-values carry two
significant digits, in scientific notation below 0.001, and ``< 1e-16`` below that
(double precision cannot tell them apart); prices have two decimals and thousands
separators; scores have four significant digits, and log-return errors are scaled to
percent so that differences between forecasters show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from fincast.evaluation.stats import format_p

MISSING = "n/a"
Formatter = Callable[[Any], str]


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (missing, NaN, text)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def percent(value: Any, decimals: int = 2) -> str:
    """A share or return as a percentage.

    >>> percent(-0.0545), percent(0.2294, 1), percent(1.0, 0), percent(float("nan"))
    ('-5.45%', '22.9%', '100%', 'n/a')
    """
    number = _number(value)
    return MISSING if number is None else f"{number:.{decimals}%}"


def signed_percent(value: Any, decimals: int = 2) -> str:
    """A change as a percentage with its sign.

    >>> signed_percent(0.0123), signed_percent(-0.5, 1)
    ('+1.23%', '-50.0%')
    """
    number = _number(value)
    return MISSING if number is None else f"{number:+.{decimals}%}"


def p_value(value: Any) -> str:
    """A p-value: two significant digits, scientific below 0.001, ``< 1e-16`` below that.

    >>> p_value(0.42), p_value(0.0423), p_value(0.00036), p_value(3e-54), p_value(1.0)
    ('0.42', '0.042', '3.6e-04', '< 1e-16', '1.0')
    """
    number = _number(value)
    return MISSING if number is None else format_p(number)


def price(value: Any) -> str:
    """A price: two decimals, thousands separated.

    >>> price(2313.4567), price(0.5)
    ('2,313.46', '0.50')
    """
    number = _number(value)
    return MISSING if number is None else f"{number:,.2f}"


def significant(value: Any, digits: int = 4) -> str:
    """A score with ``digits`` significant digits (thousands separated when large).

    >>> significant(0.0074123), significant(0.99871), significant(12345.678), significant(0)
    ('0.007412', '0.9987', '12,346', '0')
    """
    number = _number(value)
    if number is None:
        return MISSING
    if number == 0:
        return "0"
    exponent = math.floor(math.log10(abs(number)))
    decimals = max(digits - 1 - exponent, 0)
    return f"{round(number, decimals):,.{decimals}f}"


def scaled(factor: float, digits: int = 4) -> Formatter:
    """A formatter of ``value * factor`` to ``digits`` significant digits.

    >>> scaled(100)(0.0074123)
    '0.7412'
    """
    return lambda value: MISSING if _number(value) is None else significant(value * factor, digits)


def decimals(places: int) -> Formatter:
    """A formatter with a fixed number of decimals.

    >>> decimals(2)(1.2345)
    '1.23'
    """
    return lambda value: MISSING if _number(value) is None else f"{float(value):,.{places}f}"


def yes_no(value: Any) -> str:
    """A flag as ``yes`` / ``no``.

    >>> yes_no(True), yes_no(0)
    ('yes', 'no')
    """
    return "yes" if bool(value) else "no"


@dataclass(frozen=True)
class Column:
    """A table column's header (with its unit) and how its values are written."""

    label: str
    formatter: Formatter


PERCENT = scaled(100)
SCORE = significant
_SHARE = Column("share (%)", lambda value: percent(value, 1))

# fixed column names of fincast's tables; patterns below cover the numbered ones
COLUMNS: dict[str, Column] = {
    # forecasts
    "log_return": Column("log return (%)", lambda value: percent(value, 3)),
    "price": Column("price (quote units)", price),
    # hold-out and walk-forward scores of log-return forecasts (errors in percent)
    "mse": Column("MSE (%²)", scaled(1e4)),
    "mae": Column("MAE (%)", PERCENT),
    "rmse": Column("RMSE (%)", PERCENT),
    "pinball": Column("pinball loss (%)", PERCENT),
    "hit_rate": Column("hit rate (%)", lambda value: percent(value, 1)),
    "hit_chance": Column("chance hit rate (%)", lambda value: percent(value, 1)),
    "hit_p": Column("hit-rate p-value", p_value),
    "price_mae": Column("price MAE (quote units)", price),
    "price_rmse": Column("price RMSE (quote units)", price),
    "price_mase": Column("price MASE (ratio)", SCORE),
    "price_smape": Column("price sMAPE (%)", SCORE),
    "mcs_p": Column("MCS p-value", p_value),
    "in_mcs": Column("in MCS (yes/no)", yes_no),
    # volatility scores (annualised volatility in percent points)
    "qlike": Column("QLIKE (unitless)", SCORE),
    "mse_var": Column("MSE of variance (ann.²)", SCORE),
    "rmse_vol": Column("RMSE of volatility (% pts)", PERCENT),
    "mae_vol": Column("MAE of volatility (% pts)", PERCENT),
    # trading
    "annual_return": Column("annual return (%)", percent),
    "annual_volatility": Column("annual volatility (%)", lambda value: percent(value, 1)),
    "sharpe": Column("Sharpe (annual, ratio)", decimals(2)),
    "sortino": Column("Sortino (annual, ratio)", decimals(2)),
    "max_drawdown": Column("max drawdown (%)", percent),
    "turnover": Column("turnover (times per year)", decimals(1)),
    "days_in_market": Column("days in market (%)", lambda value: percent(value, 1)),
    # calibration
    "nominal": Column("nominal coverage (%)", lambda value: percent(value, 0)),
    "empirical": Column("empirical coverage (%)", lambda value: percent(value, 1)),
    "refit": Column("refit (yes/no)", yes_no),
    "seconds": Column("time (s)", decimals(1)),
}

_P_IN_TEXT = re.compile(r"p\s*=\s*(<\s*1e-\d+)|p\s*=\s*([0-9.]+(?:e-?\d+)?)")

# (pattern, header template, formatter): numbered and prefixed columns
PATTERNS: list[tuple[re.Pattern[str], str, Formatter]] = [
    (re.compile(r"^dm_p_(\w+)$"), "DM p-value, {0}", p_value),
    (re.compile(r"^cover_(\d+)$"), "{0}% interval coverage (%)", lambda value: percent(value, 1)),
    (re.compile(r"^mae_vs_(\w+)$"), "MAE / {0}'s MAE (ratio)", SCORE),
    (re.compile(r"^loss_vs_(\w+)$"), "task loss / {0}'s (ratio)", SCORE),
    (re.compile(r"^price_q([\d.]+)$"), "price q{0}, cumulative (quote units)", price),
    (re.compile(r"^q([\d.]+)$"), "day's log-return q{0} (%)", lambda value: percent(value, 3)),
    (re.compile(r"^loss_(\w+)$"), "mean loss, {0}", SCORE),
]


def p_values_in_text(text: str) -> str:
    """``text`` with every ``p=<number>`` (or ``p<number``) written by :func:`p_value`.

    >>> p_values_in_text("worse than naive (p=0.000363), better (p=<1e-10)")
    'worse than naive (p=3.6e-04), better (p < 1e-10)'
    """

    def rewrite(matched: re.Match[str]) -> str:
        if matched.group(1):  # a bound stays the bound it was written with
            return "p < " + matched.group(1).lstrip("<").strip()
        written = p_value(matched.group(2))
        return f"p {written}" if written.startswith("<") else f"p={written}"

    return _P_IN_TEXT.sub(rewrite, text)


def column_format(name: object) -> Column | None:
    """The header and format of a known column, or ``None``.

    >>> column_format("dm_p_h1").label, column_format("cover_80").label
    ('DM p-value, h1', '80% interval coverage (%)')
    """
    text = str(name)
    if text in COLUMNS:
        return COLUMNS[text]
    for pattern, template, formatter in PATTERNS:
        matched = pattern.match(text)
        if matched:
            return Column(template.format(*matched.groups()), formatter)
    return None


def styled(
    table: pd.DataFrame,
    overrides: Mapping[str, Column] | None = None,
    default: Formatter | None = None,
) -> Styler:
    """``table`` as a Styler whose rendered text follows the rules above.

    Args:
        table: the table; its values stay as they are (sorting stays numeric).
        overrides: headers and formats for columns of this table only.
        default: the format of numeric columns that nothing else names.
    """
    formats: dict[Any, Any] = {}
    for name in table.columns:
        column = (overrides or {}).get(str(name)) or column_format(name)
        if column is not None:
            formats[name] = column.formatter
        elif default is not None and pd.api.types.is_numeric_dtype(table[name]):
            formats[name] = default
    return table.style.format(formats, na_rep=MISSING)


def column_labels(
    table: pd.DataFrame, overrides: Mapping[str, Column] | None = None
) -> dict[str, str]:
    """Headers with units for ``st.dataframe``'s ``column_config`` (name -> label)."""
    labels = {}
    for name in table.columns:
        column = (overrides or {}).get(str(name)) or column_format(name)
        if column is not None:
            labels[str(name)] = column.label
    return labels
