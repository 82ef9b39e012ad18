"""Model builders: plain functions returning Functional ``keras.Model`` forecasters.

Every model takes a raw feature window ``(lookback, features)`` and returns a
forecast in real units ``(horizon,)``: input normalisation and output rescaling,
fitted on the training slice only, live inside the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from fincast.models.layers import Rescale

MIN_SCALE = 1e-8


@dataclass(frozen=True)
class Scaling:
    """Training-slice statistics that a model carries to normalise and rescale."""

    input_mean: list[float]
    input_variance: list[float]
    target_mean: list[float]
    target_scale: list[float]


def fit_scaling(train_inputs: np.ndarray, train_targets: np.ndarray) -> Scaling:
    """Per-feature and per-horizon statistics of the training slice only."""
    flat_inputs = train_inputs.reshape(-1, train_inputs.shape[-1]).astype("float64")
    targets = train_targets.astype("float64")
    return Scaling(
        input_mean=flat_inputs.mean(axis=0).tolist(),
        input_variance=np.maximum(flat_inputs.var(axis=0), MIN_SCALE**2).tolist(),
        target_mean=targets.mean(axis=0).tolist(),
        target_scale=np.maximum(targets.std(axis=0), MIN_SCALE).tolist(),
    )


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value}")


def _normalised_input(
    lookback: int, num_features: int, scaling: Scaling
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inputs = keras.Input(shape=(lookback, num_features), name="window")
    normalised = keras.layers.Normalization(
        axis=-1, mean=scaling.input_mean, variance=scaling.input_variance, name="normalise"
    )(inputs)
    return inputs, normalised


def _forecast_head(hidden: keras.KerasTensor, horizon: int, scaling: Scaling) -> keras.KerasTensor:
    normalised = keras.layers.Dense(horizon, name="head")(hidden)
    return Rescale(scaling.target_mean, scaling.target_scale, name="rescale")(normalised)


def build_lstm(
    *,
    lookback: int,
    num_features: int,
    horizon: int,
    scaling: Scaling,
    units: int = 64,
    num_layers: int = 1,
    dropout: float = 0.0,
) -> keras.Model:
    """Stacked LSTM over the window; the last state feeds a direct multi-horizon head.

    Args:
        lookback: days in each input window.
        num_features: features per day.
        horizon: days forecast at once.
        scaling: training-slice statistics (see :func:`fit_scaling`).
        units: LSTM units per layer.
        num_layers: stacked LSTM layers.
        dropout: dropout rate on each layer's inputs, in ``[0, 1)``.
    """
    _check_positive(
        lookback=lookback,
        num_features=num_features,
        horizon=horizon,
        units=units,
        num_layers=num_layers,
    )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    inputs, hidden = _normalised_input(lookback, num_features, scaling)
    for layer in range(num_layers):
        hidden = keras.layers.LSTM(
            units, dropout=dropout, return_sequences=layer < num_layers - 1, name=f"lstm_{layer}"
        )(hidden)
    return keras.Model(inputs, _forecast_head(hidden, horizon, scaling), name="lstm_forecaster")


def build_mlp(
    *,
    lookback: int,
    num_features: int,
    horizon: int,
    scaling: Scaling,
    units: tuple[int, ...] | list[int] = (64, 64),
    dropout: float = 0.0,
) -> keras.Model:
    """Dense layers over the flattened window; a direct multi-horizon head."""
    _check_positive(lookback=lookback, num_features=num_features, horizon=horizon)
    if not units or any(int(width) < 1 for width in units):
        raise ValueError(
            f"units must be a non-empty list of positive widths. Received: units={units}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")
    inputs, hidden = _normalised_input(lookback, num_features, scaling)
    hidden = keras.layers.Flatten(name="flatten")(hidden)
    for index, width in enumerate(units):
        hidden = keras.layers.Dense(int(width), activation="relu", name=f"dense_{index}")(hidden)
        if dropout:
            hidden = keras.layers.Dropout(dropout, name=f"dropout_{index}")(hidden)
    return keras.Model(inputs, _forecast_head(hidden, horizon, scaling), name="mlp_forecaster")


# Every model family by its config name (``conf/model/<name>.yaml``); each builder takes
# ``lookback``, ``num_features``, ``horizon`` and ``scaling`` as keyword arguments.
BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "lstm": build_lstm,
    "mlp": build_mlp,
}
