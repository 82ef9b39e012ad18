"""Group the jobs of a Hydra multirun under one parent MLflow run, and close it honestly.

``MlflowSweepParent`` is a Hydra callback (registered in ``conf/config.yaml``). At the
start of a multirun it checks the tracking store (an unreachable store ends the
sweep before its first job, with one line and exit status 2), creates the parent
run with the sweep's config, and writes the parent's id and the swept keys into the
sweep directory, where every job (in any launcher's process) finds them. Jobs log
their models but register none (:func:`in_multirun`). At the end of the multirun it
records the children on the parent, registers the child with the lowest validation
loss and lets the champion rule decide on it
(:func:`fincast.tracking.sweep_summary.summarise_sweep`). A sweep that ends early (a
job raised, or exited) leaves its parent FAILED, never RUNNING.
"""

from __future__ import annotations

import atexit
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from fincast.tracking.store import connect, ensure_experiment, resolve_uri

PARENT_FILE = "mlflow_parent_run_id"
SWEPT_KEYS_FILE = "mlflow_swept_keys"
OPTUNA_RESULTS_FILE = "optimization_results.yaml"
MAX_RUN_NAME = 250  # MLflow's limit on a run name
logger = logging.getLogger(__name__)


class MlflowSweepParent(Callback):
    """Create, summarise and close the parent run of a multirun."""

    def __init__(self) -> None:
        self.open_parent: tuple[str, str] | None = None  # (tracking URI, run id)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        uri = resolve_uri(config.tracking.uri)
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            client = connect(uri)
            experiment_id = ensure_experiment(client, str(config.tracking.experiment), uri)
            run = client.create_run(
                experiment_id,
                run_name=f"sweep {sweep_dir.name}",
                tags={"fincast.sweep_dir": str(sweep_dir)},
            )
        except Exception as error:  # an unreachable store: stop before the first job
            print(f"{command_name(config)}: error: {error}", file=sys.stderr)
            sys.exit(2)
        run_id = run.info.run_id
        self.open_parent = (uri, run_id)
        atexit.register(self.close_failed_parent)
        keys = swept_keys(config)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / SWEPT_KEYS_FILE).write_text("".join(f"{key}\n" for key in keys))
        (sweep_dir / PARENT_FILE).write_text(run_id)
        try:
            from fincast.tracking.sweep_summary import record_sweep_config

            settings = sweep_settings(config)
            record_sweep_config(client, run_id, settings, OmegaConf.to_yaml(settings))
        except Exception as error:  # the sweep's config is a record; the jobs still run
            logger.warning("MLflow could not record the sweep's config: %s", error)
        logger.info("Sweep runs are grouped under MLflow run %s", run_id)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Note a failed job on the parent run (tag ``fincast.failed_job.<number>``)."""
        if job_return.status != JobStatus.FAILED or not config.tracking.enabled:
            return
        path = Path(config.hydra.sweep.dir) / PARENT_FILE
        if not path.is_file():
            return
        try:
            job_return.return_value  # noqa: B018 (raises the job's exception)
            return
        except Exception as error:
            failure = f"{type(error).__name__}: {error}"
        note = f"{' '.join(job_return.overrides or [])}: {failure}"[:5000]
        try:
            client = connect(resolve_uri(config.tracking.uri))
            client.set_tag(
                path.read_text().strip(), f"fincast.failed_job.{config.hydra.job.num}", note
            )
        except Exception as tracking_error:  # the job's failure is already reported
            logger.warning("MLflow could not record the failed job: %s", tracking_error)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(config.hydra.sweep.dir) / PARENT_FILE
        if not config.tracking.enabled or not path.is_file():
            return
        from fincast.tracking.sweep_summary import summarise_sweep

        command = command_name(config)
        run_id = path.read_text().strip()
        client = connect(resolve_uri(config.tracking.uri))
        status = "FINISHED"
        try:
            results = Path(config.hydra.sweep.dir) / OPTUNA_RESULTS_FILE
            optuna_results = None
            if results.is_file():
                client.log_artifact(run_id, str(results), "sweep")
                loaded = OmegaConf.to_container(OmegaConf.load(results), resolve=True)
                optuna_results = loaded if isinstance(loaded, dict) else None
            registrations = summarise_sweep(
                client,
                run_id,
                register=bool(config.tracking.register),
                promotion=str(config.tracking.promotion),
                optuna_results={str(key): value for key, value in (optuna_results or {}).items()},
            )
            for registration in registrations:
                print(f"{command}: sweep {run_id}: {registration.describe()}")
        except Exception as error:  # the children and their models stay logged
            status = "FAILED"
            reason = " ".join(str(error).split())[:300]
            print(
                f"{command}: warning: the sweep's best model was not registered "
                f"({type(error).__name__}: {reason}); its children are in MLflow run {run_id}.",
                file=sys.stderr,
            )
        client.set_terminated(run_id, status=status)
        atexit.unregister(self.close_failed_parent)  # closed: nothing left to do at exit
        self.open_parent = None

    def close_failed_parent(self) -> None:
        """At exit without ``on_multirun_end`` (a job raised or exited): parent FAILED."""
        if self.open_parent is None:
            return
        uri, run_id = self.open_parent
        self.open_parent = None
        try:
            from fincast.tracking.sweep_summary import child_runs, record_children

            client = connect(uri)
            record_children(client, run_id, child_runs(client, run_id))
        except Exception as error:  # a record only; the status below matters more
            logger.warning("MLflow could not record the failed sweep's children: %s", error)
        try:
            connect(uri).set_terminated(run_id, status="FAILED")
        except Exception as error:
            logger.warning("MLflow could not mark the failed sweep's run %s: %s", run_id, error)


def command_name(config: DictConfig) -> str:
    """The command that runs the sweep (``fincast-train``), for its messages."""
    return str(OmegaConf.select(config, "hydra.job.name", default="fincast"))


def sweep_settings(config: DictConfig) -> dict[str, Any]:
    """The multirun's overrides, sweeper and launcher, as plain containers."""
    settings = {
        "overrides": {"task": OmegaConf.to_container(config.hydra.overrides.task)},
        "sweeper": OmegaConf.to_container(config.hydra.sweeper, resolve=False),
        "launcher": OmegaConf.to_container(config.hydra.launcher, resolve=False),
    }
    return {"hydra": settings}


def swept_keys(config: DictConfig) -> list[str]:
    """The keys a multirun sweeps: command-line sweeps (``a=1,2``) and ``hydra.sweeper.params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [str(item) for item in config.hydra.overrides.task]
    parsed = OverridesParser.create().parse_overrides(overrides)
    keys = [override.key_or_group for override in parsed if override.is_sweep_override()]
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    keys.extend(str(key) for key in params)
    return list(dict.fromkeys(keys))


def in_multirun() -> bool:
    """Whether this job runs inside a Hydra multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def parent_run_id() -> str | None:
    """The parent run of this job when it runs inside a multirun, else None."""
    from hydra.core.hydra_config import HydraConfig

    if not in_multirun():
        return None
    path = Path(HydraConfig.get().sweep.dir) / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None


def job_overrides() -> list[str]:
    """This job's overrides of the swept keys in a multirun; ``[]`` outside one.

    Where the sweep's keys are unknown (no file in the sweep directory), all the
    job's overrides except ``hydra.*``.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not in_multirun():
        return []
    hydra_config = HydraConfig.get()
    overrides = [str(item) for item in hydra_config.overrides.task]
    keys_file = Path(hydra_config.sweep.dir) / SWEPT_KEYS_FILE
    if not keys_file.is_file():
        return [item for item in overrides if not item.startswith("hydra.")]
    keys = set(keys_file.read_text().split())
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        item
        for item, override in zip(overrides, parsed, strict=True)
        if override.key_or_group in keys
    ]


def run_name(base: str, overrides: Sequence[str]) -> str:
    """``base`` and the job's overrides, floats shortened, within MLflow's 250 characters.

    >>> run_name("lstm-jax", ["model.builder.units=32", "training.learning_rate=0.00123456"])
    'lstm-jax model.builder.units=32,training.learning_rate=0.001235'
    """
    if not overrides:
        return base[:MAX_RUN_NAME]
    name = f"{base} {','.join(short_override(item) for item in overrides)}"
    return name if len(name) <= MAX_RUN_NAME else name[: MAX_RUN_NAME - 3] + "..."


def short_override(override: str) -> str:
    """``key=value`` with a long float value written with 4 significant digits."""
    key, equals, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        return override
    shortened = f"{number:.4g}"
    return f"{key}{equals}{shortened}" if len(shortened) < len(value) else override
