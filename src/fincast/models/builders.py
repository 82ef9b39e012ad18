"""Model builders: plain functions returning Functional ``keras.Model`` forecasters.

Every model takes a raw feature window ``(lookback, features)`` and returns a
forecast in real units: ``(horizon,)`` for a point forecast, or
``(horizon, len(quantiles))`` when ``quantiles`` is given. Input normalisation and
output rescaling, fitted on the training slice only, live inside the model.

Every builder takes ``lookback``, ``num_features``, ``horizon`` and ``scaling``, plus
``quantiles`` (``None`` for a point forecast) and ``reversible_norm`` (normalise each
window by its own statistics, RevIN, and restore them on the output).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from fincast.models.attention import TemporalAttentionPooling
from fincast.models.common import (
    Scaling,
    check_positive,
    check_rate,
    fit_scaling,
    forecast_head,
    normalised_input,
)
from fincast.models.fused_lstm import FusedLSTM  # keras.layers.LSTM + fused torch kernel
from fincast.models.time2vec import Time2Vec

__all__ = [
    "BUILDERS",
    "Scaling",
    "build_cnn",
    "build_lstm",
    "build_mlp",
    "build_t2v_attention",
    "fit_scaling",
]
POOLINGS = ("last", "attention")


def build_mlp(
    *,
    lookback: int,
    num_features: int,
    horizon: int,
    scaling: Scaling,
    units: Sequence[int] = (64, 64),
    dropout: float = 0.0,
    quantiles: Sequence[float] | None = None,
    reversible_norm: bool = False,
) -> keras.Model:
    """Dense layers over the flattened window; a direct multi-horizon head.

    Args:
        lookback: days in each input window.
        num_features: features per day.
        horizon: days forecast at once.
        scaling: training-slice statistics (see :func:`fit_scaling`).
        units: widths of the hidden Dense layers.
        dropout: dropout rate after each hidden layer, in ``[0, 1)``.
        quantiles: quantile levels for a quantile forecast; ``None`` for a point forecast.
        reversible_norm: normalise each window by its own statistics (RevIN).
    """
    check_positive(lookback=lookback, num_features=num_features, horizon=horizon)
    if not units or any(isinstance(width, bool) or int(width) < 1 for width in units):
        raise ValueError(
            f"units must be a non-empty list of positive widths. Received: units={units}"
        )
    check_rate("dropout", dropout)
    model_input = normalised_input(lookback, num_features, scaling, reversible_norm)
    hidden = keras.layers.Flatten(name="flatten")(model_input.normalised)
    for index, width in enumerate(units):
        hidden = keras.layers.Dense(int(width), activation="relu", name=f"dense_{index}")(hidden)
        if dropout:
            hidden = keras.layers.Dropout(dropout, name=f"dropout_{index}")(hidden)
    outputs = forecast_head(
        hidden, model_input, horizon=horizon, scaling=scaling, quantiles=quantiles
    )
    return keras.Model(model_input.window, outputs, name="mlp_forecaster")


def build_lstm(
    *,
    lookback: int,
    num_features: int,
    horizon: int,
    scaling: Scaling,
    units: int = 64,
    num_layers: int = 1,
    dropout: float = 0.0,
    pooling: str = "last",
    attention_units: int = 16,
    quantiles: Sequence[float] | None = None,
    reversible_norm: bool = False,
) -> keras.Model:
    """Stacked LSTM over the window; its last state or attention pooling feeds the head.

    Args:
        lookback: days in each input window.
        num_features: features per day.
        horizon: days forecast at once.
        scaling: training-slice statistics (see :func:`fit_scaling`).
        units: LSTM units per layer.
        num_layers: stacked LSTM layers.
        dropout: dropout rate on each layer's inputs, in ``[0, 1)``.
        pooling: ``"last"`` (the last step's state) or ``"attention"``
            (:class:`TemporalAttentionPooling` over every step).
        attention_units: width of the attention scorer when ``pooling="attention"``.
        quantiles: quantile levels for a quantile forecast; ``None`` for a point forecast.
        reversible_norm: normalise each window by its own statistics (RevIN).
    """
    check_positive(
        lookback=lookback,
        num_features=num_features,
        horizon=horizon,
        units=units,
        num_layers=num_layers,
        attention_units=attention_units,
    )
    check_rate("dropout", dropout)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}. Received: pooling={pooling!r}")
    model_input = normalised_input(lookback, num_features, scaling, reversible_norm)
    hidden = model_input.normalised
    for layer in range(num_layers):
        sequences = layer < num_layers - 1 or pooling == "attention"
        hidden = FusedLSTM(
            units, dropout=dropout, return_sequences=sequences, name=f"lstm_{layer}"
        )(hidden)
    if pooling == "attention":
        hidden = TemporalAttentionPooling(attention_units, name="attention")(hidden)
    outputs = forecast_head(
        hidden, model_input, horizon=horizon, scaling=scaling, quantiles=quantiles
    )
    return keras.Model(model_input.window, outputs, name="lstm_forecaster")


def build_cnn(
    *,
    lookback: int,
    num_features: int,
    horizon: int,
    scaling: Scaling,
    filters: Sequence[int] = (32, 32),
    kernel_size: int = 3,
    pool_size: int = 2,
    dense_units: int = 64,
    dropout: float = 0.0,
    quantiles: Sequence[float] | None = None,
    reversible_norm: bool = False,
) -> keras.Model:
    """Causal Conv1D blocks, each followed by max pooling, then a Dense layer and the head.

    Args:
        lookback: days in each input window.
        num_features: features per day.
        horizon: days forecast at once.
        scaling: training-slice statistics (see :func:`fit_scaling`).
        filters: filters of each convolution block.
        kernel_size: days each convolution sees.
        pool_size: max-pooling window after each block (``"same"`` padding, so short
            windows never pool to nothing).
        dense_units: width of the Dense layer before the head.
        dropout: dropout rate before the head, in ``[0, 1)``.
        quantiles: quantile levels for a quantile forecast; ``None`` for a point forecast.
        reversible_norm: normalise each window by its own statistics (RevIN).
    """
    check_positive(
        lookback=lookback,
        num_features=num_features,
        horizon=horizon,
        kernel_size=kernel_size,
        pool_size=pool_size,
        dense_units=dense_units,
    )
    if not filters or any(isinstance(count, bool) or int(count) < 1 for count in filters):
        raise ValueError(
            f"filters must be a non-empty list of positive counts. Received: filters={filters}"
        )
    check_rate("dropout", dropout)
    model_input = normalised_input(lookback, num_features, scaling, reversible_norm)
    hidden = model_input.normalised
    for index, count in enumerate(filters):
        hidden = keras.layers.Conv1D(
            int(count), kernel_size, padding="causal", activation="relu", name=f"conv_{index}"
        )(hidden)
        hidden = keras.layers.MaxPooling1D(pool_size, padding="same", name=f"pool_{index}")(hidden)
    hidden = keras.layers.Flatten(name="flatten")(hidden)
    hidden = keras.layers.Dense(dense_units, activation="relu", name="dense")(hidden)
    if dropout:
        hidden = keras.layers.Dropout(dropout, name="dropout")(hidden)
    outputs = forecast_head(
        hidden, model_input, horizon=horizon, scaling=scaling, quantiles=quantiles
    )
    return keras.Model(model_input.window, outputs, name="cnn_forecaster")


def build_t2v_attention(
    *,
    lookback: int,
    num_features: int,
    horizon: int,
    scaling: Scaling,
    time2vec_dim: int = 8,
    units: int = 32,
    attention_units: int = 16,
    dropout: float = 0.0,
    quantiles: Sequence[float] | None = None,
    reversible_norm: bool = True,
) -> keras.Model:
    """fincast's own layers: RevIN, Time2Vec features, an LSTM and temporal attention.

    Each day's normalised features are joined by their :class:`Time2Vec` embedding;
    an LSTM reads the sequence and :class:`TemporalAttentionPooling` weighs its steps.

    Args:
        lookback: days in each input window.
        num_features: features per day.
        horizon: days forecast at once.
        scaling: training-slice statistics (see :func:`fit_scaling`).
        time2vec_dim: width of the Time2Vec embedding, >= 2.
        units: LSTM units.
        attention_units: width of the attention scorer.
        dropout: dropout rate on the LSTM's inputs, in ``[0, 1)``.
        quantiles: quantile levels for a quantile forecast; ``None`` for a point forecast.
        reversible_norm: normalise each window by its own statistics (RevIN).
    """
    check_positive(
        lookback=lookback,
        num_features=num_features,
        horizon=horizon,
        units=units,
        attention_units=attention_units,
    )
    check_rate("dropout", dropout)
    model_input = normalised_input(lookback, num_features, scaling, reversible_norm)
    embedded = Time2Vec(time2vec_dim, name="time2vec")(model_input.normalised)
    hidden = keras.layers.Concatenate(name="with_time2vec")([model_input.normalised, embedded])
    hidden = FusedLSTM(units, dropout=dropout, return_sequences=True, name="lstm")(hidden)
    hidden = TemporalAttentionPooling(attention_units, name="attention")(hidden)
    outputs = forecast_head(
        hidden, model_input, horizon=horizon, scaling=scaling, quantiles=quantiles
    )
    return keras.Model(model_input.window, outputs, name="t2v_attention_forecaster")


# Every model family by its config name (``conf/model/<name>.yaml``); each builder takes
# ``lookback``, ``num_features``, ``horizon`` and ``scaling`` as keyword arguments.
BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "mlp": build_mlp,
    "lstm": build_lstm,
    "cnn": build_cnn,
    "t2v_attention": build_t2v_attention,
}
