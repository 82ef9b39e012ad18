"""The ends every forecaster shares: training-slice scaling, the input, the output head.

The input end normalises raw windows with the training slice's statistics (and,
optionally, each window by its own with RevIN); the output end maps the head back to
real units. Both ends run in float32 whatever the precision policy, so forecasts are
full precision under mixed precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import keras
import numpy as np

from fincast.data.windows import Windows, feature_moments
from fincast.models.identity import (
    IdentityEmbedding,
    TakeColumns,
    TickerRescale,
    TickerStandardize,
)
from fincast.models.layers import Rescale
from fincast.models.normalization import InstanceDenorm, ReversibleInstanceNorm
from fincast.models.quantile import QuantileHead, check_quantiles

MIN_SCALE = 1e-8


@dataclass(frozen=True)
class Scaling:
    """Training-slice statistics that a model carries to normalise and rescale.

    ``target_feature`` is the input feature the target is (its column in the window),
    used by reversible instance normalisation to restore each window's scale.
    """

    input_mean: list[float]
    input_variance: list[float]
    target_mean: list[float]
    target_scale: list[float]
    target_feature: int = 0
    # identity columns (ticker_id, sector_id) of a global model: {column: vocabulary size};
    # they are embedded (embedding_dim wide each) instead of normalised
    identity_sizes: dict[int, int] = field(default_factory=dict)
    embedding_dim: int = 4
    # per-ticker scaling (features.normalise=ticker): the ticker_id column and one row of
    # statistics per ticker id (row 0: every ticker pooled, for a ticker never seen)
    ticker_column: int | None = None
    ticker_input_mean: list[list[float]] = field(default_factory=list)
    ticker_input_variance: list[list[float]] = field(default_factory=list)
    ticker_target_mean: list[list[float]] = field(default_factory=list)
    ticker_target_scale: list[list[float]] = field(default_factory=list)

    @property
    def identity_columns(self) -> set[int]:
        """Columns that are ids, not numbers: never normalised or fed as values."""
        return set(self.identity_sizes) | (
            set() if self.ticker_column is None else {self.ticker_column}
        )


def fit_scaling(
    train_inputs: Any,
    train_targets: np.ndarray,
    target_feature: int = 0,
    *,
    identity_sizes: dict[int, int] | None = None,
    embedding_dim: int = 4,
) -> Scaling:
    """Per-feature and per-horizon statistics of the training slice only.

    ``train_inputs`` is an array or a :class:`fincast.data.windows.WindowArray` (its
    moments come from the rows, never materialising the windows). ``identity_sizes``
    names a global model's identity columns and their vocabulary sizes (embedded,
    ``embedding_dim`` wide each).
    """
    mean, variance = feature_moments(train_inputs)
    targets = np.asarray(train_targets).astype("float64")
    if not 0 <= target_feature < len(mean):
        raise ValueError(
            f"target_feature must index one of the {len(mean)} input features. "
            f"Received: target_feature={target_feature}"
        )
    return Scaling(
        input_mean=mean.tolist(),
        input_variance=np.maximum(variance, MIN_SCALE**2).tolist(),
        target_mean=targets.mean(axis=0).tolist(),
        target_scale=np.maximum(targets.std(axis=0), MIN_SCALE).tolist(),
        target_feature=int(target_feature),
        identity_sizes=dict(identity_sizes or {}),
        embedding_dim=int(embedding_dim),
    )


def fit_ticker_scaling(scaling: Scaling, train: Windows, ticker_column: int) -> Scaling:
    """``scaling`` with each ticker's own training-slice statistics added (by ticker id).

    Row 0 of each table is ``scaling``'s pooled statistics, used for a ticker id the
    training slice does not hold; ids are read from the windows' ``ticker_column``.
    """
    ids = np.rint(np.asarray(train.inputs[:, -1, ticker_column])).astype(int)
    size = int(np.asarray(train.inputs.rows[:, ticker_column]).max()) + 1
    tables = {
        "mean": [list(scaling.input_mean)] * size,
        "variance": [list(scaling.input_variance)] * size,
        "target_mean": [list(scaling.target_mean)] * size,
        "target_scale": [list(scaling.target_scale)] * size,
    }
    targets = np.asarray(train.targets).astype("float64")
    for ticker_id in np.unique(ids):
        mask = ids == ticker_id
        mean, variance = feature_moments(train.inputs[mask])
        tables["mean"][ticker_id] = mean.tolist()
        tables["variance"][ticker_id] = np.maximum(variance, MIN_SCALE**2).tolist()
        tables["target_mean"][ticker_id] = targets[mask].mean(axis=0).tolist()
        scale = np.maximum(targets[mask].std(axis=0), MIN_SCALE)
        tables["target_scale"][ticker_id] = scale.tolist()
    return replace(
        scaling,
        ticker_column=int(ticker_column),
        ticker_input_mean=tables["mean"],
        ticker_input_variance=tables["variance"],
        ticker_target_mean=tables["target_mean"],
        ticker_target_scale=tables["target_scale"],
    )


def check_positive(**values: int) -> None:
    """A ValueError naming the first value that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or int(value) < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value}")


def check_rate(name: str, value: float) -> None:
    """A ValueError unless ``value`` is a rate in ``[0, 1)``."""
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1). Received: {name}={value}")


@dataclass
class ModelInput:
    """The raw window input, its normalised form, and RevIN's per-window statistics."""

    window: keras.KerasTensor
    normalised: keras.KerasTensor
    stats: keras.KerasTensor | None = None


def normalised_input(
    lookback: int, num_features: int, scaling: Scaling, reversible_norm: bool = False
) -> ModelInput:
    """Raw window -> training-slice normalisation -> optional per-window RevIN.

    A global model's identity columns (``scaling.identity_sizes``) are not normalised:
    they are embedded and joined to the normalised features at every step.
    """
    window = keras.Input(shape=(lookback, num_features), name="window")
    if scaling.ticker_column is None:
        normalised = keras.layers.Normalization(
            axis=-1,
            mean=scaling.input_mean,
            variance=scaling.input_variance,
            name="normalise",
            dtype="float32",
        )(window)
    else:
        normalised = TickerStandardize(
            scaling.ticker_column,
            scaling.ticker_input_mean,
            scaling.ticker_input_variance,
            name="normalise",
            dtype="float32",
        )(window)
    identity = sorted(scaling.identity_sizes)
    if scaling.identity_columns:
        ids = scaling.identity_columns
        numeric = [column for column in range(num_features) if column not in ids]
        normalised = TakeColumns(numeric, name="numeric", dtype="float32")(normalised)
    stats = None
    if reversible_norm:
        normalised, stats = ReversibleInstanceNorm(name="revin", dtype="float32")(normalised)
    if identity:
        sizes = [scaling.identity_sizes[column] for column in identity]
        embedded = IdentityEmbedding(
            identity, sizes, scaling.embedding_dim, name="identity", dtype="float32"
        )(window)
        normalised = keras.layers.Concatenate(name="with_identity")([normalised, embedded])
    return ModelInput(window, normalised, stats)


def forecast_head(
    hidden: keras.KerasTensor,
    model_input: ModelInput,
    *,
    horizon: int,
    scaling: Scaling,
    quantiles: Sequence[float] | None = None,
) -> keras.KerasTensor:
    """Direct multi-horizon head in real units: ``(horizon,)`` or ``(horizon, quantiles)``."""
    if quantiles is None:
        outputs = keras.layers.Dense(horizon, name="head", dtype="float32")(hidden)
    else:
        outputs = QuantileHead(horizon, check_quantiles(quantiles), name="head", dtype="float32")(
            hidden
        )
    if model_input.stats is not None:
        outputs = InstanceDenorm(scaling.target_feature, name="denorm", dtype="float32")(
            [outputs, model_input.stats]
        )
    if scaling.ticker_column is not None:
        return TickerRescale(
            scaling.ticker_column,
            scaling.ticker_target_mean,
            scaling.ticker_target_scale,
            name="rescale",
            dtype="float32",
        )([outputs, model_input.window])
    return Rescale(
        scaling.target_mean,
        scaling.target_scale,
        axis=1 if quantiles is not None else -1,
        name="rescale",
        dtype="float32",
    )(outputs)
