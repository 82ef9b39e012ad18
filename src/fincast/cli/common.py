"""What every fincast command shares: Hydra app setup, backend choice, one-line errors."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any, NoReturn

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from fincast.backend import BackendError, BackendInfo, describe_backend
from fincast.paths import config_dir
from fincast.specs import DataSpec, JobSpec
from fincast.tracking.names import champion_uri

if TYPE_CHECKING:
    import pandas as pd

    from fincast.serving.forecast import Forecaster

logger = logging.getLogger("fincast")


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
    """Run ``task`` as a Hydra app over fincast's config directory.

    A user error (a bad override, an unknown option, a missing plugin, SLURM without
    SLURM) ends with one line on stderr and status 2, Hydra's own errors included; an
    unexpected exception inside ``task`` (a bug) keeps its traceback and status 1.
    """
    import hydra

    from fincast.cli.launchers import check_launchers
    from fincast.cli.schema import check_override_keys, register_schemas

    sys.argv[1:] = quote_index_symbols(sys.argv[1:])
    quiet_by_default(sys.argv[1:])
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    register_schemas()
    command = Path(sys.argv[0]).name
    if not SHELL_COMPLETION & set(sys.argv[1:]):  # -sc install=bash is Hydra's, not a key
        try:
            check_override_keys(sys.argv[1:])
            check_launchers(sys.argv[1:])
        except ValueError as error:
            fail(command, error)
        sys.argv[1:] = with_job_name(sys.argv[1:], command)

    app = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")
    watched = _watched(task)
    report_config_errors(lambda: app(watched)(), command, watched.__code__)


def _watched(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """``task`` behind a frame of its own, so that an error raised in it can be told apart."""

    @functools.wraps(task)
    def watched_task(config: DictConfig) -> Any:
        return task(config)

    return watched_task


def report_config_errors(run: Callable[[], None], command: str, task_code: CodeType) -> None:
    """Call ``run`` (a Hydra app); a config error ends with one line and status 2.

    Hydra prints its errors itself and exits with status 1; with ``HYDRA_FULL_ERROR=1``
    set here for the call, it raises them instead. A user error (see
    :func:`is_config_error`) ends with one line, after the full traceback if the user
    set ``HYDRA_FULL_ERROR=1``, and status 2. Any other exception propagates: its
    traceback and status 1.
    """
    user_asked_full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        run()
    except Exception as error:
        if not is_config_error(error, task_code):
            raise
        if user_asked_full_error:
            traceback.print_exc()
        fail(command, hydra_error_line(error))
    finally:
        if not user_asked_full_error:
            os.environ.pop("HYDRA_FULL_ERROR", None)


def is_config_error(error: BaseException, task_code: CodeType) -> bool:
    """True for an error in what the user asked for, not a bug in the task.

    That is a Hydra or OmegaConf error raised outside the task (``task_code``): a bad
    override, an unknown option or key, a wrong type, a missing interpolation key;
    or a ``ValueError`` Hydra's command line raises itself (``--resolve`` without
    ``--cfg``, two commands at once).
    """
    from hydra.errors import HydraException

    if any(frame.f_code is task_code for frame, _ in traceback.walk_tb(error.__traceback__)):
        return False
    if isinstance(error, HydraException | OmegaConfBaseException):
        return True
    frames = list(traceback.walk_tb(error.__traceback__))
    raiser = frames[-1][0] if frames else None
    return (
        isinstance(error, ValueError)
        and raiser is not None
        and raiser.f_globals.get("__name__") == "hydra._internal.utils"
        and raiser.f_code.co_name == "_run_hydra"
    )


_OMEGACONF_DETAIL = re.compile(r"^(full_key|reference_type|object_type|key|value)\s*[:=]")


def hydra_error_line(error: BaseException) -> str:
    """Hydra's error message on one line: its lines joined, search paths and OmegaConf's
    key details left out, a group's options listed after a colon.

    >>> from hydra.errors import MissingConfigException
    >>> message = "Could not find 'model/x'\\n\\nAvailable options in 'model':\\n\\tcnn\\n\\tlstm"
    >>> hydra_error_line(MissingConfigException(message + "\\nConfig search path:\\n\\tx"))
    "Could not find 'model/x'; Available options in 'model': cnn, lstm"
    """
    message = str(error)
    override = getattr(error, "override", None)  # an OverrideParseException's override
    if override:
        message = f"Could not parse override {override!r}: {message}"
    if isinstance(error.__cause__, OmegaConfBaseException):
        message = f"{message}\n{error.__cause__}"
    parts: list[str] = []
    for raw in message.splitlines():
        line = raw.strip()
        if line.startswith("Config search path"):
            break
        if not line or _OMEGACONF_DETAIL.match(line):
            continue
        if raw.startswith("\t") and parts:  # an item of a list, e.g. a group's options
            parts[-1] += (" " if parts[-1].endswith(":") else ", ") + line
        else:
            parts.append(line)
    return "; ".join(part.removesuffix(".") for part in parts) or type(error).__name__


SHELL_COMPLETION = frozenset({"-sc", "--shell-completion"})


def with_job_name(arguments: list[str], command: str) -> list[str]:
    """``arguments`` with ``hydra.job.name=<command>`` unless one is given.

    Hydra names the job after the Python file of the task (``common``); the name of
    the command reads better in ``--help`` and names the log file (``fincast-train.log``).

    >>> with_job_name(["training.epochs=1"], "fincast-train")
    ['training.epochs=1', 'hydra.job.name=fincast-train']
    """
    if any(argument.startswith("hydra.job.name=") for argument in arguments):
        return arguments
    return [*arguments, f"hydra.job.name={command}"]


QUIET_LOGGERS = (
    "jax._src.xla_bridge",  # INFO "Unable to initialize backend 'tpu'" on every machine without one
    "matplotlib.font_manager",  # INFO "generated new fontManager" on a first run
)


def quiet_by_default(arguments: list[str]) -> None:
    """Keep the libraries' start-up chatter off stderr, unless ``hydra.verbose`` is set.

    Set before the libraries load: TensorFlow's C++ log level (errors too on a machine
    without an NVIDIA GPU, where its only one is the failed CUDA probe), MLflow's
    (its store-creation INFO lines; warnings stay), and the INFO loggers in
    :data:`QUIET_LOGGERS`. Settings already in the environment win.
    """
    if any(_verbose(argument) for argument in arguments):
        return
    from fincast.backend import gpu_present

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if gpu_present() else "3")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _verbose(argument: str) -> bool:
    """True for a ``hydra.verbose=...`` override other than ``false``."""
    key, equals, value = argument.lstrip("+").partition("=")
    return key == "hydra.verbose" and bool(equals) and value.strip().lower() not in ("false", "")


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


def job_spec(config: DictConfig, command: str) -> JobSpec:
    """The composed config as the frozen :class:`~fincast.specs.JobSpec`, checked once.

    Every value is checked by the spec (ranges, choices) and the task by the task
    registry; a bad value ends the command with one line naming the key and value.
    """
    from fincast.evaluation.tasks import TASKS

    try:
        job = OmegaConf.to_object(config)
        if not isinstance(job, JobSpec):
            raise ValueError(f"the config is not a fincast job. Received: {type(job).__name__}")
        if job.task.name not in TASKS:
            raise ValueError(
                f"task.name must be one of {', '.join(TASKS)}. "
                f"Received: task.name={job.task.name!r}"
            )
    except MissingMandatoryValue as error:
        key = error.full_key or "a key"
        fail(command, f"{key} must be set (it has no default). Received: {key}=???")
    except (ValueError, OmegaConfBaseException) as error:
        fail(command, " ".join(str(error).split("\n")[0].split()))
    return job


def model_uri_of(job: JobSpec, ticker: str | None = None) -> str:
    """``model_uri`` of the job, else the champion of its task and model family.

    A per-ticker job's champion is that ticker's model.
    """
    if job.model_uri:
        return job.model_uri
    per_ticker = job.training.pooling == "per_ticker"
    return champion_uri(job.task.name, job.model.name, ticker if per_ticker else None)


def load_models_and_bars(
    job: JobSpec, command: str
) -> tuple[dict[str, Forecaster], dict[str, pd.DataFrame]]:
    """The model of each ticker (``model_uri`` or the champion) and the checked bars.

    The bars are the job's tickers', and those of the model's covariate universe.

    The bars pass the job's data checks (``data.on_invalid``, calendars, jump
    threshold) as in training. Expected failures (no model, bad file, bad data) end
    the command with one line.
    """
    from fincast.data.loading import load_checked_bars
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.serving.forecast import load_forecaster
    from fincast.tracking.store import TrackingError

    try:
        if job.training.pooling == "pooled" or job.model_uri:
            pooled = load_forecaster(model_uri_of(job), job.tracking.uri)
            bars, _ = load_checked_bars(*_checks_of(job, pooled.card))
            return dict.fromkeys(bars, pooled), bars
        forecasters = {
            ticker: load_forecaster(model_uri_of(job, ticker), job.tracking.uri)
            for ticker in job.data.tickers
        }
        card = next(iter(forecasters.values())).card
        bars, _ = load_checked_bars(*_checks_of(job, card))
    except (TrackingError, MarketDataError, MarketDataUnavailable, ValueError, OSError) as error:
        fail(command, error)
    return forecasters, bars


def _checks_of(job: JobSpec, card: dict[str, Any]) -> tuple[DataSpec, str]:
    """The data checks for a saved model's new bars: the command's policy, the model's
    exchange calendars (the command's own per-ticker calendars added) and price column.

    A model with past covariates also needs its universe's bars (its card's
    ``covariate_universe``); they are loaded with the command's tickers.
    """
    universe = [
        name for name in card.get("covariate_universe") or [] if name not in job.data.tickers
    ]
    data = dataclasses.replace(
        job.data,
        tickers=[*job.data.tickers, *universe],
        calendar=card.get("calendar", job.data.calendar),
        calendars={**card.get("calendars", {}), **job.data.calendars},
    )
    return data, str(card.get("price", job.features.price))
