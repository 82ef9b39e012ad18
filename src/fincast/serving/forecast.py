"""Forecast the next days from a self-contained model and the latest bars: one ticker, or a
whole universe in one batched predict (:func:`forecast_panel`)."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fincast.conformal import interval_of
from fincast.data.calendars import DEFAULT_CALENDAR, calendar_for, next_sessions
from fincast.data.features import price_series
from fincast.data.recipe import FeatureRecipe
from fincast.data.windows import last_window
from fincast.quantiles import point_forecast

CARD_SUFFIX = ".json"
logger = logging.getLogger(__name__)
# the target whose per-step values compound into a price path (daily log returns of the price)
PRICE_TARGET = "log_return"


@dataclass
class Forecaster:
    """A loaded model with its card: features, lookback, horizon, data range, backend."""

    model: Any
    card: dict[str, Any]
    uri: str
    # a process that forecasts once (fincast-forecast): Keras' own predict_on_batch, one
    # compile, costs less than compiling the fast path and checking it against that
    once: bool = field(default=False, repr=False, compare=False)
    # the model compiled for this backend on the first forecast (fincast.serving.fast_predict)
    _predict: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def lookback(self) -> int:
        return int(self.card["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.card["horizon"])

    @property
    def quantiles(self) -> list[float] | None:
        """The quantile levels of a quantile model; ``None`` for a point model."""
        levels = self.card.get("quantiles")
        return [float(level) for level in levels] if levels else None

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """Forecast for input windows ``(n, lookback, features)`` through the compiled path.

        The model is compiled for the active backend on the first call (see
        :mod:`fincast.serving.fast_predict`: equal to ``model.predict`` within float32
        round-off, checked on each new input shape); with ``once``, Keras'
        ``predict_on_batch`` serves instead.
        """
        if self._predict is None:
            from fincast.serving.fast_predict import compile_predict, reference_predict

            make = reference_predict if self.once else compile_predict
            self._predict = make(self.model)
        return np.asarray(self._predict(window))


@dataclass
class Forecast:
    """Next-days forecast of one ticker, in the units of the model's target.

    ``values`` are the forecast per step of ``target``: daily log returns (then
    ``prices`` is the implied price path) or, say, annualised realised volatility
    (``prices`` is ``None``: volatility is never compounded into prices).
    """

    ticker: str
    as_of: str
    last_price: float
    dates: list[str]
    values: list[float]
    prices: list[float] | None
    model_uri: str
    backend: str
    target: str = PRICE_TARGET
    extra: dict[str, Any] = field(default_factory=dict)
    # a quantile model's per-step quantiles of the target by level, e.g. {"0.1": [...]}
    quantiles: dict[str, list[float]] | None = None
    # the calibrated interval (fincast.conformal): level, method, lower and upper per step
    interval: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``forecast`` is a list of ``{date, value[, price]}`` per step.

        A quantile model's steps also carry ``quantiles``: ``{level: value}``; with a
        calibrated interval every step has ``lower`` and ``upper`` and the top level an
        ``interval``: ``{level, method}``.
        """
        steps: list[dict[str, Any]] = [
            {"step": step + 1, "date": date, "value": value}
            for step, (date, value) in enumerate(zip(self.dates, self.values, strict=True))
        ]
        for entry, price in zip(steps, self.prices or [], strict=False):
            entry["price"] = price
        for step, entry in enumerate(steps if self.quantiles else []):
            entry["quantiles"] = {lvl: vals[step] for lvl, vals in (self.quantiles or {}).items()}
        interval = self.interval or {}
        for step, entry in enumerate(steps if interval else []):
            entry["lower"], entry["upper"] = interval["lower"][step], interval["upper"][step]
        base = {
            key: value
            for key, value in asdict(self).items()
            if key not in ("dates", "values", "prices", "extra", "quantiles", "interval")
        }
        if interval:
            base["interval"] = {
                key: value for key, value in interval.items() if key not in ("lower", "upper")
            }
        return {**base, **self.extra, "forecast": steps}

    @property
    def interval_caption(self) -> str:
        """What the ``lower`` and ``upper`` columns are, in words ("" without an interval)."""
        if not self.interval:
            return ""
        method = {"split": "split conformal", "cqr": "conformalised quantile regression"}
        how = method.get(self.interval["method"], self.interval["method"])
        if self.interval.get("scale_window"):
            how += f", scaled by the last {self.interval['scale_window']} sessions' volatility"
        return f"; lower, upper: the {self.interval['level']:.0%} interval of {self.target} ({how})"

    def to_frame(self) -> pd.DataFrame:
        """One row per step: date, the forecast target, the implied price (and quantiles, and
        the calibrated interval's ``lower`` and ``upper``)."""
        columns: dict[str, Any] = {"date": self.dates, self.target: self.values}
        if self.prices is not None:
            columns["price"] = self.prices
        columns.update({f"q{level}": values for level, values in (self.quantiles or {}).items()})
        if self.interval:
            columns.update(lower=self.interval["lower"], upper=self.interval["upper"])
        return pd.DataFrame(columns, index=pd.RangeIndex(1, len(self.dates) + 1, name="step"))


def load_forecaster(model_uri: str, tracking_uri: str | None = None) -> Forecaster:
    """Load a model from a ``.keras`` or ``.onnx`` file (card beside it) or an MLflow model URI.

    Keras' ``safe_mode`` is on: no lambda or pickled code is executed.
    """
    path = Path(model_uri)
    if path.suffix == ".onnx":  # onnxruntime, no Keras (fincast.serving.onnx_runtime)
        from fincast.serving.onnx_runtime import load_onnx_forecaster

        return load_onnx_forecaster(path, model_uri)
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"Model file {model_uri!r} does not exist.")
        card_path = path.with_suffix(CARD_SUFFIX)
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        model_file = path
    else:
        from fincast.tracking.registry import download_model
        from fincast.tracking.store import resolve_uri

        model_file, metadata = download_model(model_uri, resolve_uri(tracking_uri))
        card = dict(metadata.get("fincast", {}))
    return forecaster_from_file(model_file, card, model_uri)


def forecaster_from_file(model_file: Path, card: dict[str, Any], model_uri: str) -> Forecaster:
    """Load the ``.keras`` file safely and pair it with its card.

    Raises:
        ValueError: not a Keras archive, a crafted archive, a model Keras cannot load
            in ``safe_mode``, or a card without the entries a forecast needs.
    """
    import keras

    from fincast.models.serializable import register_keras_objects
    from fincast.serving.fast_load import weights_from_file

    register_keras_objects()
    if not zipfile.is_zipfile(model_file):
        raise ValueError(
            f"{model_uri!r} is not a Keras model file (a .keras file is a zip archive); "
            "retrain it with fincast-train or pick another model."
        )
    _refuse_escaping_members(model_file, model_uri)
    try:
        with weights_from_file():  # no random weights drawn only to be replaced
            model = keras.saving.load_model(model_file, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises ValueError, OSError, zipfile errors...
        reason = str(error).strip().rstrip(".").replace("\n", " ")
        raise ValueError(
            f"Cannot load the Keras model at {model_uri!r} ({type(error).__name__}: {reason}); "
            "retrain it with fincast-train or pick another model."
        ) from error
    for key in ("features", "lookback", "horizon", "tickers"):
        if key not in card:
            raise ValueError(
                f"Model {model_uri!r} has no fincast card entry {key!r}; "
                "retrain it with fincast-train."
            )
    return Forecaster(model=model, card=card, uri=model_uri)


def _refuse_escaping_members(model_file: str | Path, model_uri: str) -> None:
    """Refuse an archive with a member name that points outside it (``../x``, ``/x``, ``\\``).

    Keras only skips such members with a warning; a genuine ``.keras`` file never has them.
    """
    try:
        with zipfile.ZipFile(model_file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"Cannot read the Keras model archive at {model_uri!r} ({error}); "
            "retrain it with fincast-train or pick another model."
        ) from error
    for name in names:
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ".." in parts or ":" in parts[0]:
            raise ValueError(
                f"Refusing the Keras model at {model_uri!r}: its archive member {name!r} "
                "points outside the archive, so the file was crafted or damaged; "
                "retrain it with fincast-train or pick another model."
            )


def next_trading_days(
    as_of: pd.Timestamp, count: int, calendar: str | None = DEFAULT_CALENDAR
) -> list[str]:
    """The ``count`` sessions of exchange ``calendar`` after ``as_of``, as ISO dates.

    Weekends and the exchange's holidays are skipped (2018-12-31 -> 2019-01-02 on
    XNYS); with ``calendar=None``, only weekends are.
    """
    if not calendar:
        days = pd.bdate_range(as_of + pd.Timedelta(days=1), periods=count)
    else:
        days = next_sessions(calendar, as_of, count)
    return [day.date().isoformat() for day in days]


def forecast_panel(
    forecaster: Forecaster,
    bars: Mapping[str, pd.DataFrame],
    tickers: Sequence[str] | None = None,
    *,
    skip_short: bool = False,
) -> list[Forecast]:
    """Forecast the next ``horizon`` days of many tickers with one batched predict.

    Each ticker's inputs are rebuilt as the card records them (features, then
    covariates over the model's universe: :class:`FeatureRecipe`), its latest window
    is stacked with the others', and the model predicts them all at once.

    Args:
        forecaster: the loaded model and card.
        bars: daily bars per ticker (and those of the model's covariate universe).
        tickers: the tickers to forecast (default: every ticker of ``bars``).
        skip_short: leave out (and log) a ticker with fewer feature rows than the
            lookback, instead of raising.

    Raises:
        ValueError: a ticker whose bars cannot make one window (unless ``skip_short``).
        MarketDataError: past covariates whose universe is not all in ``bars``.
    """
    wanted = list(bars) if tickers is None else list(tickers)
    frames = FeatureRecipe.of_card(forecaster.card).frames(bars, wanted)
    ready = []
    for ticker in wanted:
        rows = len(frames[ticker])
        if rows >= forecaster.lookback:
            ready.append(ticker)
            continue
        needed = forecaster.lookback + len(bars[ticker]) - rows
        message = (
            f"{len(bars[ticker])} bars of {ticker!r} make {rows} feature rows; the model "
            f"looks back {forecaster.lookback}, so send at least {needed} recent bars."
        )
        if not skip_short:
            raise ValueError(message)
        logger.warning("No forecast for %s: %s", ticker, message)
    if not ready:
        return []
    windows = np.concatenate([last_window(frames[ticker], forecaster.lookback) for ticker in ready])
    outputs = forecaster.predict_window(windows).astype("float64")
    return [
        _forecast(forecaster, bars[ticker], frames[ticker].index[-1], ticker, output, window)
        for ticker, output, window in zip(ready, outputs, windows, strict=True)
    ]


def forecast_ticker(
    forecaster: Forecaster,
    bars: pd.DataFrame,
    ticker: str,
    universe: Mapping[str, pd.DataFrame] | None = None,
) -> Forecast:
    """Forecast the next ``horizon`` days of ``ticker`` from its latest bars.

    ``universe``: the other tickers' bars, for a model with past covariates.
    """
    return forecast_panel(forecaster, {**(universe or {}), ticker: bars}, [ticker])[0]


def _forecast(
    forecaster: Forecaster,
    bars: pd.DataFrame,
    as_of: pd.Timestamp,
    ticker: str,
    output: Any,
    window: np.ndarray,
) -> Forecast:
    card = forecaster.card
    values, quantiles = _point_and_quantiles(output, forecaster.quantiles)
    output = np.asarray(output, dtype="float64")
    interval = interval_of(card, output, np.asarray(values), window)
    last_price = float(price_series(bars, card.get("price", "adj_close")).loc[as_of])
    target = str(card.get("target", PRICE_TARGET))
    # only log returns of the price compound into a price path
    prices = last_price * np.exp(np.cumsum(values)) if target == PRICE_TARGET else None
    return Forecast(
        ticker=ticker,
        as_of=as_of.date().isoformat(),
        last_price=last_price,
        dates=next_trading_days(as_of, forecaster.horizon, _calendar_of(card, ticker)),
        values=[float(value) for value in values],
        prices=None if prices is None else [float(value) for value in prices],
        target=target,
        model_uri=forecaster.uri,
        backend=_active_backend(forecaster),
        extra={"trained_on_backend": card.get("backend"), "model_family": card.get("model")},
        quantiles=quantiles,
        interval=interval,
    )


def _point_and_quantiles(
    output: np.ndarray, levels: list[float] | None
) -> tuple[np.ndarray, dict[str, list[float]] | None]:
    """A model's output for one window as the point forecast (the median) and its quantiles."""
    if output.ndim == 1 or not levels:
        return output, None
    quantiles = {str(level): output[:, index].tolist() for index, level in enumerate(levels)}
    return point_forecast(output, levels), quantiles


def _calendar_of(card: dict[str, Any], ticker: str) -> str | None:
    """The ticker's exchange calendar from the card (XNYS for cards that predate it)."""
    return calendar_for(ticker, card.get("calendar", DEFAULT_CALENDAR), card.get("calendars"))


def _active_backend(forecaster: Forecaster) -> str:
    """What runs the forecast: the Keras backend, or ``onnxruntime`` for an ONNX model."""
    runtime = getattr(forecaster, "runtime", None)
    if runtime:
        return str(runtime)
    import keras

    return str(keras.backend.backend())
