"""fincast's MLflow pyfunc: recent daily bars in, the dated forecast out.

A registered fincast model carries two MLflow flavours: ``keras`` (the ``.keras`` file,
for ``mlflow.keras.load_model``) and ``python_function`` with this module as its
``loader_module``, so ``mlflow.pyfunc.load_model``, ``mlflow models predict`` and
``mlflow models serve`` answer with forecasts. Nothing is pickled: MLflow imports this
module, which loads the ``.keras`` file with Keras' ``safe_mode``.

Input (``dataframe_split``, ``dataframe_records``, CSV or a DataFrame), one of:

- bars: ``date, open, high, low, close, volume[, adj_close][, ticker]``, the latest
  daily bars of one or more tickers (at least the model's lookback plus its features'
  warm-up rows per ticker); without ``ticker`` the rows are one series;
- raw windows: a ``window`` column, one ``(lookback, features)`` input window per row
  as JSON text (``{"inputs": [{"window": "[[0.01, ...], ...]"}]}``), for callers that
  build features themselves. It is text because MLflow's scoring server reads CSV
  requests with the signature's column types, which must be scalars.

Output: one record per ticker and step: ``ticker, as_of, step, date, target, value``,
``price`` (the implied price, for a log-return model) and ``q<level>`` (a quantile
model's quantiles); for raw windows ``window, step, target, value[, q<level>]``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

    from fincast.serving.forecast import Forecaster

MODEL_FILE = Path("model.keras")
WINDOW_COLUMN = "window"
PRICE_FIELDS = ("open", "high", "low", "close")


def signature(card: dict[str, Any]) -> ModelSignature:
    """The pyfunc's signature: bars (or windows) in, dated forecast records out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema, TensorSpec

    # scalar column types only: MLflow's scoring server reads CSV with them
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec(DataType.string, "date", required=False),
        *(ColSpec(DataType.double, name, required=False) for name in (*PRICE_FIELDS, "volume")),
        ColSpec(DataType.double, "adj_close", required=False),
        ColSpec(DataType.string, "ticker", required=False),
        ColSpec(DataType.string, WINDOW_COLUMN, required=False),  # a window as JSON text
    ]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec(DataType.string, "ticker"),
        ColSpec(DataType.string, "as_of"),
        ColSpec(DataType.long, "step"),
        ColSpec(DataType.string, "date"),
        ColSpec(DataType.string, "target"),
        ColSpec(DataType.double, "value"),
    ]
    if card.get("target", "log_return") == "log_return":
        outputs.append(ColSpec(DataType.double, "price"))
    outputs += [ColSpec(DataType.double, f"q{level}") for level in card.get("quantiles") or []]
    if card.get("intervals"):
        outputs += [ColSpec(DataType.double, "lower"), ColSpec(DataType.double, "upper")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(bars: dict[str, pd.DataFrame], card: dict[str, Any]) -> pd.DataFrame:
    """The latest bars a forecast needs, as a user would send them (ISO dates, a ticker column).

    Each ticker contributes its last ``lookback`` feature rows plus the rows its
    features need to warm up.
    """
    from fincast.data.recipe import FeatureRecipe

    inputs = FeatureRecipe.of_card(card).frames(bars)
    frames = []
    for ticker, frame in bars.items():
        features = inputs[ticker]
        first = int(frame.index.searchsorted(features.index[-int(card["lookback"])]))
        warm_up = int(frame.index.searchsorted(features.index[0]))
        recent = frame.iloc[max(first - warm_up, 0) :].reset_index()
        frames.append(recent.assign(date=recent["date"].dt.strftime("%Y-%m-%d"), ticker=ticker))
    return pd.concat(frames, ignore_index=True)


class FincastPyfunc:
    """What ``mlflow.pyfunc.load_model`` returns inside its ``PyFuncModel``."""

    def __init__(self, forecaster: Forecaster) -> None:
        self.forecaster = forecaster

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Forecast from bars (per ticker) or from raw windows; see the module docstring.

        Raises:
            MlflowException: the input holds neither bars nor windows, or too few bars
                (``INVALID_PARAMETER_VALUE``: the scoring server answers 400 with the message).
        """
        from mlflow.exceptions import INVALID_PARAMETER_VALUE, MlflowException

        frame = pd.DataFrame(model_input)
        try:
            if WINDOW_COLUMN in frame.columns and frame[WINDOW_COLUMN].notna().any():
                return self._from_windows(frame[WINDOW_COLUMN])
            return self._from_bars(frame.drop(columns=[WINDOW_COLUMN], errors="ignore"))
        except ValueError as error:  # the scoring server shows an MlflowException's message
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from error

    def _from_bars(self, frame: pd.DataFrame) -> pd.DataFrame:
        from fincast.data.sources import MarketDataError, bars_from_table
        from fincast.serving.forecast import forecast_panel

        tickers = self.forecaster.card.get("tickers") or ["series"]
        try:
            bars = bars_from_table(
                frame,
                where="The input",
                name=str(tickers[0]) if len(tickers) == 1 else "series",
                ticker_column="ticker" if "ticker" in frame.columns else None,
                advice=f"Send the latest daily bars, or one {WINDOW_COLUMN!r} per row.",
            )
            for ticker, ticker_bars in bars.items():
                if ticker_bars.index.has_duplicates:
                    raise ValueError(
                        f"The input repeats dates for {ticker!r}; send one bar per day."
                    )
            forecasts = forecast_panel(self.forecaster, bars)
        except MarketDataError as error:
            raise ValueError(str(error)) from error
        return pd.concat([_records(forecast) for forecast in forecasts], ignore_index=True)

    def _from_windows(self, windows: pd.Series) -> pd.DataFrame:
        card = self.forecaster.card
        shape = (self.forecaster.lookback, len(card.get("input_columns") or card["features"]))
        try:
            stacked = np.stack(
                [
                    np.asarray(json.loads(window) if isinstance(window, str) else window, "float32")
                    for window in windows
                ]
            )
        except ValueError as error:  # bad JSON, ragged rows
            raise ValueError(
                f"Each {WINDOW_COLUMN!r} must be JSON text of {shape[0]} rows (lookback) of "
                f"{shape[1]} numbers ({', '.join(card['features'])}): {error}"
            ) from error
        if stacked.shape[1:] != shape:
            raise ValueError(
                f"Each window must be {shape[0]} rows (lookback) of {shape[1]} features "
                f"({', '.join(card['features'])}). Received: {stacked.shape[1:]}"
            )
        from fincast.conformal import interval_of

        output = self.forecaster.predict_window(stacked).astype("float64")
        levels = self.forecaster.quantiles
        rows: list[dict[str, Any]] = []
        for index, per_step in enumerate(output):
            first = len(rows)
            for step, values in enumerate(per_step, start=1):
                row = {"window": index, "step": step, "target": card.get("target", "log_return")}
                _add_values(row, np.atleast_1d(values), levels)
                rows.append(row)
            points = np.array([row["value"] for row in rows[first:]])
            interval = interval_of(card, per_step, points, stacked[index])
            if interval:  # the calibrated interval, as for a request of bars
                for row, low, high in zip(
                    rows[first:], interval["lower"], interval["upper"], strict=True
                ):
                    row.update(lower=low, upper=high)
        return pd.DataFrame(rows)


def _add_values(row: dict[str, Any], values: np.ndarray, levels: list[float] | None) -> None:
    """``value`` (the median of a quantile model) and ``q<level>`` columns into ``row``."""
    from fincast.quantiles import point_forecast

    if not levels:
        row["value"] = float(values[0])
        return
    row["value"] = float(point_forecast(values[None, :], levels)[0])
    row.update({f"q{level}": float(value) for level, value in zip(levels, values, strict=True)})


def _records(forecast: Any) -> pd.DataFrame:
    """One ticker's forecast as output records (see the module docstring)."""
    steps = pd.DataFrame(
        {
            "ticker": forecast.ticker,
            "as_of": forecast.as_of,
            "step": range(1, len(forecast.dates) + 1),
            "date": forecast.dates,
            "target": forecast.target,
            "value": forecast.values,
        }
    )
    if forecast.prices is not None:
        steps["price"] = forecast.prices
    for level, values in (forecast.quantiles or {}).items():
        steps[f"q{level}"] = values
    if forecast.interval:  # the calibrated interval, in the target's units
        steps["lower"], steps["upper"] = forecast.interval["lower"], forecast.interval["upper"]
    return steps


def _load_pyfunc(data_path: str) -> FincastPyfunc:
    """MLflow's entry point: load the model in ``data_path`` (the flavour's ``data`` folder).

    The Keras backend is chosen as fincast's commands choose it (``KERAS_BACKEND`` if
    set, else the fastest installed) unless Keras is already imported.
    """
    from mlflow.models import Model

    from fincast.backend import select_backend
    from fincast.serving.forecast import forecaster_from_file

    if "keras" not in sys.modules:
        select_backend(os.environ.get("KERAS_BACKEND", "auto"))
    folder = Path(data_path)
    metadata = Model.load(str(folder.parent / "MLmodel")).metadata or {}
    card = json.loads(json.dumps(metadata.get("fincast", {})))
    return FincastPyfunc(forecaster_from_file(folder / MODEL_FILE, card, str(folder.parent)))
