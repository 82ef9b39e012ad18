"""Read a store's runs and their files, for the dashboard's Runs, Backtest and Forecast pages.

These helpers never create a store: a missing SQLite file is a
:class:`~fincast.tracking.store.TrackingError` that says how to make one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fincast.tracking.store import open_store, quiet_mlflow


def _run_row(run: Any) -> dict[str, Any]:
    info, data = run.info, run.data
    tags = {
        f"tags.{key}": value
        for key, value in data.tags.items()
        if not key.startswith("mlflow.") or key == "mlflow.parentRunId"
    }
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "status": info.status,
        "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
        "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True),
        **{f"metrics.{key}": value for key, value in data.metrics.items()},
        **{f"params.{key}": value for key, value in data.params.items()},
        **tags,
    }


def list_runs(uri: str, experiment: str, max_results: int = 500) -> pd.DataFrame:
    """Runs of ``experiment``, newest first: one row per run.

    Columns: ``run_id``, ``run_name``, ``experiment_id``, ``status``, ``start_time``,
    ``end_time`` (UTC), then ``metrics.<name>``, ``params.<name>`` and ``tags.<name>``
    (MLflow's own ``mlflow.*`` tags left out). An unknown experiment gives an empty frame.

    Raises:
        TrackingError: see :func:`open_store`.
    """
    client = open_store(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return pd.DataFrame(columns=["run_id", "run_name", "experiment_id", "status"])
    runs = client.search_runs(
        [found.experiment_id], max_results=max_results, order_by=["attributes.start_time DESC"]
    )
    frame = pd.DataFrame([_run_row(run) for run in runs])
    return frame if len(frame) else pd.DataFrame(columns=["run_id", "run_name", "status"])


def list_run_files(uri: str, run_id: str, path: str = "") -> list[str]:
    """Every artifact file of a run under ``path``, as paths relative to the run's root."""
    client = open_store(uri)
    files: list[str] = []
    pending = [path or None]
    while pending:
        for item in client.list_artifacts(run_id, pending.pop()):
            (pending if item.is_dir else files).append(item.path)
    return sorted(files)


def download_run_file(uri: str, run_id: str, path: str, destination: Path) -> Path:
    """Download one artifact (file or folder) of a run into ``destination``; its local path."""
    client = open_store(uri)
    destination.mkdir(parents=True, exist_ok=True)
    with quiet_mlflow():
        return Path(client.download_artifacts(run_id, path, str(destination)))
