"""What every fincast command shares: Hydra app setup, backend choice, one-line errors."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from omegaconf import DictConfig, OmegaConf

from fincast.backend import BackendError, BackendInfo, describe_backend
from fincast.paths import config_dir

logger = logging.getLogger("fincast")
Number = TypeVar("Number", int, float)


_CARET_TOKEN = re.compile(r"(?<![\w'\"])([^\[\],\s'\"]*\^[^\[\],\s'\"]*)")


def quote_index_symbols(arguments: list[str]) -> list[str]:
    """Quote Yahoo index symbols such as ``^GSPC`` in overrides, which Hydra's grammar rejects.

    >>> quote_index_symbols(["data.tickers=[^GSPC,AAPL]", "-m"])
    ["data.tickers=['^GSPC',AAPL]", '-m']
    """
    quoted = []
    for argument in arguments:
        key, equals, value = argument.partition("=")
        if equals and "^" in value and not argument.startswith("-"):
            argument = key + equals + _CARET_TOKEN.sub(r"'\1'", value)
        quoted.append(argument)
    return quoted


def run_hydra_app(task: Callable[[DictConfig], Any], config_name: str = "config") -> None:
    """Run ``task`` as a Hydra app over fincast's config directory."""
    import hydra

    from fincast.cli.schema import check_choices, check_override_keys, register_schemas

    sys.argv[1:] = quote_index_symbols(sys.argv[1:])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    register_schemas()
    command = Path(sys.argv[0]).name
    try:
        check_override_keys(sys.argv[1:])
    except ValueError as error:
        fail(command, error)

    def checked_task(config: DictConfig) -> Any:
        try:
            check_choices(config)
        except ValueError as error:
            fail(command, error)
        return task(config)

    app = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")
    app(checked_task)()


def fail(command: str, error: BaseException | str) -> NoReturn:
    """Print one clear line on stderr and exit with status 2 (an expected failure)."""
    print(f"{command}: error: {error}", file=sys.stderr)
    sys.exit(2)


def start_backend(config: DictConfig, command: str) -> BackendInfo:
    """Fix the Keras backend from ``config.backend`` (or KERAS_BACKEND) and report it."""
    try:
        info = describe_backend(str(config.backend))
    except BackendError as error:
        fail(command, error)
    print(
        f"Backend: {info.name} (requested {info.requested}); devices: {', '.join(info.devices)}",
        file=sys.stderr,
    )
    return info


def plain(config: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers."""
    container = OmegaConf.to_container(config, resolve=True)
    assert isinstance(container, dict)
    return {str(key): value for key, value in container.items()}


def typed(config: DictConfig, key: str, kind: type[Number]) -> Number:
    """The value at dotted ``key`` converted to ``kind``, or a ValueError naming key and value.

    >>> typed(OmegaConf.create({"training": {"epochs": "3"}}), "training.epochs", int)
    3
    """
    value = OmegaConf.select(config, key)
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        name = "an integer" if kind is int else "a number"
        raise ValueError(f"{key} must be {name}. Received: {key}={value!r}") from None


def default_model_uri(config: DictConfig) -> str:
    """``config.model_uri`` or the champion of this task and model family."""
    if config.get("model_uri"):
        return str(config.model_uri)
    return f"models:/fincast-{config.task.name}-{config.model.name}@champion"


def load_model_and_bars(config: DictConfig, command: str) -> tuple[Any, dict[str, Any]]:
    """The configured model (``model_uri`` or the champion) and the configured tickers' bars.

    Expected failures (no model, bad file, bad data) end the command with one line.
    """
    from fincast.data.loading import load_bars
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.serving.forecast import load_forecaster
    from fincast.tracking.store import TrackingError

    try:
        forecaster = load_forecaster(default_model_uri(config), str(config.tracking.uri))
        bars = load_bars(
            str(config.data.source),
            [str(ticker) for ticker in config.data.tickers],
            cache_dir=str(config.data.cache_dir),
            refresh=str(config.data.get("refresh", "missing")),
            options=plain(config.data.options),
        )
    except (TrackingError, MarketDataError, MarketDataUnavailable, ValueError, OSError) as error:
        fail(command, error)
    return forecaster, bars


def job_fields(config: DictConfig) -> dict[str, Any]:
    """The data, features, task, model and fitting keys shared by training and backtest jobs.

    Raises:
        ValueError: a value of the wrong type, naming the key and the value.
    """
    from hydra.utils import instantiate

    from fincast.training.fit import jit_compile_setting  # after start_backend: imports keras

    return {
        "tickers": [str(ticker) for ticker in config.data.tickers],
        "build_model": instantiate(config.model.builder),
        "model_family": str(config.model.name),
        "task": str(config.task.name),
        "source": str(config.data.source),
        "data_options": plain(config.data.options),
        "cache_dir": str(config.data.cache_dir),
        "refresh": str(config.data.get("refresh", "missing")),
        "features": [str(name) for name in config.features.names],
        "price": str(config.features.price),
        "target": str(config.task.target),
        "lookback": typed(config, "task.lookback", int),
        "horizon": typed(config, "task.horizon", int),
        "epochs": typed(config, "training.epochs", int),
        "batch_size": typed(config, "training.batch_size", int),
        "learning_rate": typed(config, "training.learning_rate", float),
        "patience": typed(config, "training.patience", int),
        "jit_compile": jit_compile_setting(config.training.get("jit_compile", "auto")),
        "validation_fraction": typed(config, "evaluation.validation_fraction", float),
        "seed": typed(config, "seed", int),
    }
