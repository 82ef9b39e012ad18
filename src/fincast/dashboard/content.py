"""What the dashboard shows, as plain functions: settings, model card, forecast.

No Streamlit here (see :mod:`fincast.dashboard.ui`), so every number the pages show can
be computed and tested without a browser. The model picker's entries are in
:mod:`fincast.dashboard.model_choices`. Nothing imports Keras at import time.
"""

from __future__ import annotations

import math
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fincast.bands import price_quantiles
from fincast.conformal import interval_levels
from fincast.serving.forecast import Forecast

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_UI_URL = "http://127.0.0.1:5000"
_MARKDOWN_SPECIAL = frozenset(string.punctuation)


@dataclass(frozen=True)
class Settings:
    """Where the dashboard finds things; read from ``FINCAST_*`` environment variables."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    model_uri: str | None = None
    experiment: str = "fincast"
    cache_dir: str = "data/cache"
    models_dir: str = "models"
    backtest_dir: str = "outputs"
    mlflow_ui_url: str = DEFAULT_UI_URL
    backend: str = "auto"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``FINCAST_TRACKING_URI``, ``FINCAST_MODEL_URI``, ``FINCAST_EXPERIMENT``,
        ``FINCAST_CACHE_DIR``, ``FINCAST_MODELS_DIR``, ``FINCAST_BACKTEST_DIR``,
        ``FINCAST_MLFLOW_UI_URL`` and ``FINCAST_BACKEND`` (empty values use the defaults).
        """
        from fincast.tracking.store import resolve_uri

        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return (env.get(f"FINCAST_{name}") or "").strip() or default

        return cls(
            tracking_uri=resolve_uri(get("TRACKING_URI", DEFAULT_TRACKING_URI)),
            model_uri=get("MODEL_URI", "") or None,
            experiment=get("EXPERIMENT", "fincast"),
            cache_dir=get("CACHE_DIR", "data/cache"),
            models_dir=get("MODELS_DIR", "models"),
            backtest_dir=get("BACKTEST_DIR", "outputs"),
            mlflow_ui_url=get("MLFLOW_UI_URL", DEFAULT_UI_URL).rstrip("/"),
            backend=get("BACKEND", "auto"),
        )

    def store_missing(self) -> bool:
        """True when the tracking URI is a local SQLite file that does not exist yet."""
        database = self.tracking_uri.removeprefix("sqlite:///")
        return database != self.tracking_uri and not Path(database).is_file()


def escape_markdown(text: object) -> str:
    """``text`` with every ASCII punctuation character backslash-escaped, for Markdown output.

    Data-derived text (tickers, file names, error messages) goes through this before
    any Streamlit call that renders Markdown, so it always shows as the literal text.

    >>> escape_markdown("<img src=x>")
    '\\\\<img src\\\\=x\\\\>'
    """
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in str(text))


def code_span(text: object) -> str:
    """``text`` as a Markdown code span: shown literally, whatever characters it holds.

    >>> code_span("a`b")
    '``a`b``'
    """
    flat = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {flat} " if flat.startswith("`") or flat.endswith("`") else flat
    return f"{fence}{padded}{fence}"


def one_line(error: BaseException | str) -> str:
    """An error message on one line (its type when it has no message)."""
    text = " ".join(str(error).split())
    if text or isinstance(error, str):
        return text
    return type(error).__name__


def safe_filename(text: str, fallback: str = "series") -> str:
    """``text`` reduced to ``[A-Za-z0-9._-]`` for a download's file name.

    >>> safe_filename("^GSPC/../x")
    'GSPC..x'
    """
    return re.sub(r"[^A-Za-z0-9._-]", "", text).strip(".") or fallback


@dataclass(frozen=True)
class TickerChoice:
    """A ticker the Forecast page can load, and from which source."""

    ticker: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What the ticker picker shows."""
        return self.ticker if self.source != "yfinance" else f"{self.ticker} (cached)"


def ticker_choices(card: Mapping[str, Any], cached: list[str]) -> list[TickerChoice]:
    """The model's own tickers (its data source), then other cached Yahoo tickers."""
    source = str(card.get("data_source", "sample"))
    options = dict(card.get("data_options") or {})
    if source == "yfinance":
        options["refresh"] = "never"
    choices = [TickerChoice(str(name), source, options) for name in card.get("tickers", [])]
    known = {choice.ticker for choice in choices}
    choices += [
        TickerChoice(name, "yfinance", {"refresh": "never"}) for name in cached if name not in known
    ]
    return choices


def card_facts(card: Mapping[str, Any], model_uri: str, serving_backend: str) -> pd.DataFrame:
    """The model card as a two-column table (fact, value), data-derived text kept as text."""

    def joined(key: str) -> str:
        return ", ".join(str(value) for value in card.get(key, []) or [])

    facts = {
        "model": f"{card.get('model', 'unknown')} ({card.get('task', 'returns')} task)",
        "model URI": model_uri,
        "trained on backend": str(card.get("backend", "unknown")),
        "serving backend": serving_backend,
        "tickers": joined("tickers"),
        "data source": str(card.get("data_source", "unknown")),
        "features": joined("features"),
        "lookback / horizon": f"{card.get('lookback')} / {card.get('horizon')} trading days",
        "training data": f"{card.get('train_start', '?')} to {card.get('train_end', '?')}",
        "held-out test": f"{card.get('test_start', '?')} to {card.get('test_end', '?')}",
        "quantiles": joined("quantiles") or "none (point forecasts)",
        "created": str(card.get("created_at", "unknown")),
    }
    return pd.DataFrame({"value": list(facts.values())}, index=pd.Index(facts, name="fact"))


def headline(card: Mapping[str, Any]) -> str | None:
    """One sentence: the held-out MAE of the model against each baseline's, in plain words.

    >>> headline({"test_scores": {"model": {"mae": 0.9}, "naive": {"mae": 1.0}},
    ...           "test_start": "2018-01-02", "test_end": "2018-12-31"})
    "On the held-out period 2018-01-02 to 2018-12-31 the model's MAE was 10.0% lower than naive's."
    """
    scores = card.get("test_scores") or {}
    model = (scores.get("model") or {}).get("mae")
    if model is None:
        return None
    parts = []
    for name, row in scores.items():
        baseline = (row or {}).get("mae")
        if name == "model" or not baseline or not math.isfinite(float(baseline)):
            continue
        ratio = float(model) / float(baseline)
        word = "lower" if ratio < 1 else "higher"
        parts.append(f"{abs(1 - ratio):.1%} {word} than {name}'s")
    if not parts:
        return None
    period = f"{card.get('test_start', '?')} to {card.get('test_end', '?')}"
    return f"On the held-out period {period} the model's MAE was {' and '.join(parts)}."


def _levels(raw: Any) -> dict[float, list[float]]:
    if isinstance(raw, Mapping):
        return {float(level): [float(v) for v in values] for level, values in raw.items()}
    return {}


def step_quantiles(
    forecast: Forecast, card: Mapping[str, Any] | None = None
) -> tuple[list[float], np.ndarray] | None:
    """A forecast's levels and per-step log-return quantiles ``(horizon, levels)``.

    Reads ``forecast.quantiles``: ``{level: log returns per step}``, or an array
    ``(horizon, levels)`` with the levels in ``card["quantiles"]``. A calibrated interval
    (``forecast.interval``, :mod:`fincast.conformal`) gives the outer pair: a point
    model's band is its conformal interval around the forecast, and a quantile model's
    outer quantiles become their conformalised bounds. ``None`` for a point forecast
    without an interval.
    """
    raw = getattr(forecast, "quantiles", None)
    returns = _levels(raw)
    interval = getattr(forecast, "interval", None)
    if interval:  # the calibrated interval replaces (or is) the outer pair
        low, high = interval_levels(float(interval["level"]))
        returns = {level: values for level, values in returns.items() if low < level < high}
        returns.update({low: interval["lower"], high: interval["upper"]})
        returns.setdefault(0.5, list(forecast.values))
    if returns:
        levels = sorted(returns)
        return levels, np.column_stack([returns[level] for level in levels])
    levels = [float(level) for level in (card or {}).get("quantiles") or []]
    if raw is None or not levels:
        return None
    array = np.asarray(raw, dtype="float64").reshape(len(forecast.dates), len(levels))
    return levels, array


def forecast_bands(
    forecast: Forecast, card: Mapping[str, Any] | None = None
) -> pd.DataFrame | None:
    """Price quantiles per step from a quantile forecast, or ``None`` for a point forecast.

    The price at step ``k`` compounds ``k`` daily log returns, so its quantiles are those of
    the cumulative ``k``-day log return (quantiles do not add over steps):
    :func:`fincast.bands.price_quantiles` derives them from the per-step quantiles
    (:func:`step_quantiles`) by a normal approximation of independent daily steps
    (:data:`fincast.bands.METHOD`). A forecast that already carries price quantiles
    (``quantile_prices``: ``{level: prices per step}``) is shown as it is.

    Returns:
        Columns ``q<level>`` (e.g. ``q0.1``), one row per step, indexed like ``to_frame()``.
    """
    prices = _levels(getattr(forecast, "quantile_prices", None))
    if not prices:
        quantiles = step_quantiles(forecast, card)
        if quantiles is None:
            return None
        levels, steps = quantiles
        array = price_quantiles(forecast.last_price, steps, levels)
        prices = {level: list(array[:, index]) for index, level in enumerate(levels)}
    index = pd.RangeIndex(1, len(forecast.dates) + 1, name="step")
    return pd.DataFrame({f"q{level:g}": prices[level] for level in sorted(prices)}, index=index)


def outer_band(bands: pd.DataFrame) -> tuple[str, str, float] | None:
    """The widest pair of quantile columns around the median and its nominal coverage.

    >>> outer_band(pd.DataFrame(columns=["q0.1", "q0.5", "q0.9"]))
    ('q0.1', 'q0.9', 0.8)
    """
    levels = sorted(float(name[1:]) for name in bands.columns)
    if len(levels) < 2 or not levels[0] < 0.5 < levels[-1]:
        return None
    low, high = levels[0], levels[-1]
    return f"q{low:g}", f"q{high:g}", round(high - low, 6)


def forecast_table(forecast: Forecast, bands: pd.DataFrame | None) -> pd.DataFrame:
    """The per-step forecast (date, log return, price) with the price quantiles beside it."""
    frame = forecast.to_frame()
    if bands is None:
        return frame
    extra = bands.rename(columns=lambda name: f"price_{name}")
    return frame.join(extra[[name for name in extra.columns if name not in frame.columns]])


def is_price_task(card: Mapping[str, Any]) -> bool:
    """True when the card's task forecasts log returns (so a price path follows)."""
    from fincast.evaluation.tasks import task_named

    return task_named(str(card.get("task", "returns"))).directional


def value_table(forecast: Forecast, card: Mapping[str, Any]) -> pd.DataFrame:
    """The per-step forecast of a non-price task (e.g. ``realised_vol``), quantiles beside it.

    ``Forecast.values`` holds the model's raw per-step output, whatever its target.
    """
    target = str(card.get("target", "value"))
    columns: dict[str, Any] = {"date": forecast.dates, target: forecast.values}
    quantiles = getattr(forecast, "quantiles", None) or {}
    columns.update({f"{target}_q{float(level):g}": values for level, values in quantiles.items()})
    return pd.DataFrame(columns, index=pd.RangeIndex(1, len(forecast.dates) + 1, name="step"))


def forecast_csv(table: pd.DataFrame) -> str:
    """The CSV the download button serves: the forecast table, full precision."""
    return table.to_csv()


def download_filename(*parts: object, suffix: str = "csv") -> str:
    """``fincast-<part>-<part>...<suffix>``: a download's descriptive, safe file name.

    Each part is reduced to safe characters (:func:`safe_filename`); empty parts are left out.

    >>> download_filename("forecast", "^GSPC", "lstm", "2018-12-31")
    'fincast-forecast-GSPC-lstm-2018-12-31.csv'
    """
    names = [safe_filename(str(part), "") for part in parts]
    return "-".join(["fincast", *[name for name in names if name]]) + f".{suffix}"


def csv_filename(forecast: Forecast, card: Mapping[str, Any] | None = None) -> str:
    """``fincast-forecast-<ticker>-<model>-<task>-<as-of>.csv`` for the forecast download."""
    card = card or {}
    return download_filename(
        "forecast",
        safe_filename(forecast.ticker, "ticker"),
        card.get("model", ""),
        card.get("task", ""),
        forecast.as_of,
    )
