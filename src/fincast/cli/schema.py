"""Structured config schemas: a misspelt key or a wrongly typed value fails at start.

The dataclasses are registered in Hydra's ConfigStore as ``fincast_schema`` and are the
first entry of ``conf/config.yaml``'s defaults, so Hydra checks every composed config
(command-line overrides, experiments, sweeps) against them: an unknown key names the
key and the schema, a value of the wrong type names the key, the value and the type.
Keys with a fixed set of values are checked by :func:`check_choices`, whose error
names the key, the value and what is allowed.

Model builders (``model.builder``) and evaluation schemes take options that differ
per choice, so those groups are typed loosely and checked by the code they configure.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from fincast.backend import CHOICES as BACKENDS

CHOICES: dict[str, tuple[str, ...]] = {
    "backend": BACKENDS,
    "output": ("table", "json"),
    "data.source": ("sample", "yfinance", "csv", "parquet"),
    "data.refresh": ("never", "missing", "always"),
    "data.on_invalid": ("raise", "warn", "repair"),
    "features.price": ("adj_close", "close"),
    "task.name": ("returns", "volatility"),
    "training.precision": ("float32", "mixed_float16", "mixed_bfloat16"),
    "training.distribution": ("none", "data_parallel"),
    "tracking.promotion": ("better_on_same_data", "always", "never"),
}


# config groups that only select files (`# @package _global_` overrides), not keys
GROUPS_WITHOUT_SCHEMA = ("experiment", "hparams_search")


@dataclass
class DataConfig:
    source: str = "sample"
    tickers: list[str] = field(default_factory=list)
    cache_dir: str = "data/cache"
    refresh: str = "missing"
    options: dict[str, Any] = field(default_factory=dict)
    on_invalid: str = "raise"
    calendar: str | None = "XNYS"
    calendars: dict[str, str] = field(default_factory=dict)
    max_daily_move: float = 0.4


@dataclass
class FeaturesConfig:
    names: list[str] = field(default_factory=list)
    price: str = "adj_close"


@dataclass
class TaskConfig:
    name: str = "returns"
    target: str = "log_return"
    lookback: int = 60
    horizon: int = 5
    quantiles: list[float] | None = None


@dataclass
class ReduceLearningRateConfig:
    patience: int = 3
    factor: float = 0.5
    min_lr: float = 1e-6


@dataclass
class TrainingConfig:
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    reduce_lr: ReduceLearningRateConfig | None = field(default_factory=ReduceLearningRateConfig)
    precision: str = "float32"
    distribution: str = "none"
    verbose: Any = "auto"
    jit_compile: Any = "auto"


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "fincast"
    register: bool = True
    promotion: str = "better_on_same_data"


@dataclass
class PathsConfig:
    models: str = "models"


@dataclass
class FincastConfig:
    data: DataConfig = MISSING
    features: FeaturesConfig = MISSING
    task: TaskConfig = MISSING
    model: Any = MISSING
    training: TrainingConfig = MISSING
    evaluation: Any = MISSING
    tracking: TrackingConfig = MISSING
    backend: str = "auto"
    seed: int = 42
    output: str = "table"
    model_uri: str | None = None
    paths: PathsConfig = field(default_factory=PathsConfig)


def register_schemas() -> None:
    """Put the schema in Hydra's ConfigStore (idempotent); call before composing."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="fincast_schema", node=FincastConfig)


def check_choices(config: DictConfig) -> None:
    """Raise ValueError naming the key, the value and the allowed values of the first bad choice.

    >>> check_choices(OmegaConf.create({"output": "xml"}))
    Traceback (most recent call last):
    ...
    ValueError: output must be one of table, json. Received: output='xml'
    """
    for key, allowed in CHOICES.items():
        value = OmegaConf.select(config, key, default=None)
        if value is not None and str(value) not in allowed:
            raise ValueError(
                f"{key} must be one of {', '.join(allowed)}. Received: {key}={value!r}"
            )


def check_override_keys(arguments: list[str]) -> None:
    """Raise ValueError for an override whose key the schema does not know, listing the known keys.

    Hydra rejects such keys too, but suggests appending them with ``+``; for a typo
    the known keys are the better hint. Group choices, ``+``/``~`` overrides, Hydra's
    own keys and loosely typed groups (``model``, ``evaluation``) are left to Hydra.

    >>> check_override_keys(["training.epoch=3"])
    Traceback (most recent call last):
    ...
    ValueError: Unknown config key 'training.epoch'; training has: epochs, batch_size, \
learning_rate, patience, reduce_lr, precision, distribution, verbose, jit_compile
    """
    for argument in arguments:
        key, equals, _ = argument.partition("=")
        if not equals or key.startswith(("-", "+", "~", "hydra")) or "/" in key:
            continue
        if key in GROUPS_WITHOUT_SCHEMA:
            continue
        node: Any = FincastConfig
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if not dataclasses.is_dataclass(node):
                break
            hints = typing.get_type_hints(node)
            if part not in hints:
                where = ".".join(parts[:depth]) or "the config"
                raise ValueError(f"Unknown config key {key!r}; {where} has: {', '.join(hints)}")
            node = _dataclass_in(hints[part])


def _dataclass_in(annotation: Any) -> Any:
    """The dataclass inside ``X`` or ``X | None``, else None."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    for member in typing.get_args(annotation):
        if dataclasses.is_dataclass(member):
            return member
    return None
