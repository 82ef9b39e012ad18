"""Group the jobs of a Hydra multirun under one parent MLflow run.

``MlflowSweepParent`` is a Hydra callback (registered in ``conf/config.yaml``): at the
start of a multirun it creates the parent run and writes its id into the sweep
directory, where every job (in any launcher's process) finds it; at the end it
closes the parent run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fincast.tracking.store import connect, ensure_experiment, resolve_uri

PARENT_FILE = "mlflow_parent_run_id"
logger = logging.getLogger(__name__)


class MlflowSweepParent(Callback):
    """Create and close the parent run of a multirun."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        uri = resolve_uri(config.tracking.uri)
        client = connect(uri)
        experiment_id = ensure_experiment(client, str(config.tracking.experiment), uri)
        sweep_dir = Path(config.hydra.sweep.dir)
        run = client.create_run(
            experiment_id,
            run_name=f"sweep {sweep_dir.name}",
            tags={"fincast.sweep_dir": str(sweep_dir)},
        )
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(run.info.run_id)
        logger.info("Sweep runs are grouped under MLflow run %s", run.info.run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(config.hydra.sweep.dir) / PARENT_FILE
        if not config.tracking.enabled or not path.is_file():
            return
        client = connect(resolve_uri(config.tracking.uri))
        client.set_terminated(path.read_text().strip())


def parent_run_id() -> str | None:
    """The parent run of this job when it runs inside a multirun, else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_config = HydraConfig.get()
    if hydra_config.mode != RunMode.MULTIRUN:
        return None
    path = Path(hydra_config.sweep.dir) / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None
