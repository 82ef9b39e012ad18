"""The one module that talks to MLflow: runs, metrics, models, the registry.

A tracking failure never loses a trained model: every call made during a run is
guarded, failures are collected in :attr:`RunTracker.failures` and reported, and
the caller has already saved the model locally.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

DEFAULT_URI = "sqlite:///mlflow.db"
CHAMPION = "champion"
MODEL_FILE = Path("data") / "model.keras"
PROMOTION_METRIC = "test_mae_vs_naive"

logger = logging.getLogger(__name__)
Result = TypeVar("Result")


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or does not hold what was asked for."""


def resolve_uri(uri: str | None, base_dir: Path | None = None) -> str:
    """Make a relative ``sqlite:///file.db`` URI absolute, under ``base_dir`` (default: cwd)."""
    uri = uri or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri.removeprefix(prefix))
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return f"{prefix}{path.resolve()}"
    return uri


def artifact_root_for(uri: str) -> str | None:
    """Where a local store keeps artifacts: ``mlartifacts/`` beside the SQLite file."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


def connect(uri: str) -> Any:
    """Point MLflow at ``uri`` and check that it answers; return an ``MlflowClient``.

    Raises:
        TrackingError: the store cannot be reached, with the URI and what to do.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as error:  # MLflow raises many types for an unreachable store
        raise TrackingError(
            f"Cannot reach the MLflow tracking store at {uri!r} ({type(error).__name__}). "
            "Start the server, fix tracking.uri, or run with tracking=none."
        ) from error
    return client


def store_answers(uri: str, timeout: float = 3.0) -> bool:
    """Whether a tracking server answers its health check (local stores always do)."""
    if not uri.startswith(("http://", "https://")):
        return True
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    """The id of experiment ``name``, created (with a local artifact root) if missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_root_for(uri)))


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``{"a.b": "value"}`` with MLflow-sized string values."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:6000]
    return flat


def _requirements() -> list[str]:
    """What a serving environment needs to load a fincast model (skips MLflow's slow inference)."""
    from importlib.metadata import version

    return [f"keras=={version('keras')}", f"fincast=={version('fincast')}"]


class _KerasFlavor:
    """``mlflow.keras`` that creates the model folder before MLflow writes the input example.

    MLflow 3.17's Keras flavour writes ``input_example.json`` before it creates the
    folder, so ``mlflow.keras.log_model(..., input_example=...)`` fails.
    """

    @staticmethod
    def save_model(path: str, **kwargs: Any) -> None:
        import mlflow.keras

        Path(path).mkdir(parents=True, exist_ok=True)
        kwargs.pop("validate_serving_input", None)
        mlflow.keras.save_model(path=path, **kwargs)


class RunTracker:
    """One MLflow run whose every call is guarded; failures are collected, not raised."""

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        self.uri = uri
        self.failures: list[str] = []
        self.unreachable = False
        self.epochs_logged = 0
        self.client = connect(uri)
        self.experiment_id = ensure_experiment(self.client, experiment, uri)
        tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else None
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id

    def _guard(self, what: str, action: Callable[[], Result]) -> Result | None:
        """Run one tracking call; on failure record it, and stop calling a store that is gone."""
        if self.unreachable:
            self.failures.append(f"{what}: skipped, the tracking store stopped answering")
            return None
        try:
            return action()
        except Exception as error:  # a tracking failure must never end the job
            reason = " ".join(str(error).split())[:300]
            self.failures.append(f"{what}: {type(error).__name__}: {reason}")
            logger.warning("MLflow could not record %s: %s", what, reason)
            self.unreachable = not store_answers(self.uri)
            return None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log flat parameters (nested mappings are flattened with dots)."""
        from mlflow.entities import Param

        items = [Param(key, value) for key, value in flatten(params).items()]
        for start in range(0, len(items), 100):
            self._log_params_batch(items[start : start + 100])

    def _log_params_batch(self, batch: list[Any]) -> None:
        self._guard("params", lambda: self.client.log_batch(self.run_id, params=batch))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set string tags on the run."""
        from mlflow.entities import RunTag

        run_tags = [RunTag(key, str(value)) for key, value in tags.items()]
        self._guard("tags", lambda: self.client.log_batch(self.run_id, tags=run_tags))

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Log finite metric values at ``step``."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = [
            Metric(key, float(value), now, step)
            for key, value in metrics.items()
            if value is not None and np.isfinite(value)
        ]
        self._guard("metrics", lambda: self.client.log_batch(self.run_id, metrics=entries))

    def log_history(self, history: Mapping[str, list[float]]) -> None:
        """Log per-epoch training curves (``loss``, ``val_loss``, ...) with the epoch as step."""
        epochs = max((len(values) for values in history.values()), default=0)
        for epoch in range(epochs):
            self.log_metrics(
                {
                    f"epoch_{name}": values[epoch]
                    for name, values in history.items()
                    if epoch < len(values)
                },
                step=epoch,
            )

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store ``text`` as an artifact file of the run."""
        self._guard(artifact_file, lambda: self.client.log_text(self.run_id, text, artifact_file))

    def log_table(self, table: pd.DataFrame, artifact_file: str) -> None:
        """Store a table as CSV."""
        self.log_text(table.to_csv(), artifact_file)

    def log_file(self, path: str | Path, artifact_dir: str | None = None) -> None:
        """Store a local file (a plot, a report) as an artifact under ``artifact_dir``."""
        self._guard(
            f"{artifact_dir or ''}/{Path(path).name}",
            lambda: self.client.log_artifact(self.run_id, str(path), artifact_dir),
        )

    def log_model(
        self,
        model: Any,
        *,
        input_example: np.ndarray,
        metadata: Mapping[str, Any],
        registered_name: str | None,
    ) -> str | None:
        """Log ``model`` with MLflow's Keras flavour (signature + example) and register it.

        Returns:
            The model URI (``models:/name/version`` when registered), or ``None`` if logging failed.
        """
        import mlflow
        from mlflow.models import Model, infer_signature

        def action() -> str:
            signature = infer_signature(
                input_example, np.asarray(model.predict_on_batch(input_example))
            )
            with mlflow.start_run(run_id=self.run_id):
                info = Model.log(
                    artifact_path=None,
                    name="model",
                    flavor=_KerasFlavor,
                    flavor_name="mlflow.keras",
                    model=model,
                    signature=signature,
                    input_example=input_example,
                    metadata=dict(metadata),
                    registered_model_name=registered_name,
                    validate_serving_input=False,
                    pip_requirements=_requirements(),
                )
            version = info.registered_model_version
            return (
                f"models:/{registered_name}/{version}"
                if registered_name and version
                else info.model_uri
            )

        return self._guard("model", action)

    def log_dataset(self, frame: pd.DataFrame, *, name: str, source: str, digest: str) -> None:
        """Log the input data as an MLflow dataset (schema, profile and content digest)."""
        import mlflow
        from mlflow.data.pandas_dataset import from_pandas

        def action() -> None:
            dataset = from_pandas(frame, source=source, name=name, digest=digest[:36] or None)
            with mlflow.start_run(run_id=self.run_id):
                mlflow.log_input(dataset, context="training")

        self._guard("dataset", action)

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` (``FINISHED`` or ``FAILED``)."""
        self._guard("run end", lambda: self.client.set_terminated(self.run_id, status=status))


PROMOTION_MODES = ("better_on_same_data", "always", "never")
EVALUATION_TAG = "evaluation_key"


def promote_if_better(
    client: Any,
    name: str,
    version: str,
    score: float,
    *,
    evaluation_key: str = "",
    mode: str = "better_on_same_data",
) -> tuple[bool, str]:
    """Move alias ``champion`` to ``version`` when the promotion rule says so.

    ``better_on_same_data`` (default): promote when there is no champion yet, or when
    ``score`` (``test_mae_vs_naive``, lower is better) beats the champion's score
    measured on the same data and test period (the same ``evaluation_key``, a tag of
    the champion's run); scores from other data are not comparable, so the champion
    stays. ``always`` promotes every new version; ``never`` leaves the alias alone.

    Returns:
        Whether the alias moved, and why (one line).
    """
    if mode not in PROMOTION_MODES:
        raise ValueError(
            f"Unknown promotion mode {mode!r}; choose one of {', '.join(PROMOTION_MODES)}."
        )
    if mode == "never":
        return False, "promotion is off (tracking.promotion=never)"
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:  # no such alias yet
        current = None
    if (
        mode == "better_on_same_data"
        and current is not None
        and str(current.version) != str(version)
    ):
        champion = client.get_run(current.run_id).data
        if champion.tags.get(EVALUATION_TAG, "") != evaluation_key:
            return False, f"champion v{current.version} was scored on other data or another period"
        champion_score = champion.metrics.get(PROMOTION_METRIC)
        if champion_score is not None and champion_score <= score:
            return False, f"champion v{current.version} scores {champion_score:.6f} <= {score:.6f}"
    client.set_registered_model_alias(name, CHAMPION, version)
    return True, f"v{version} is the new champion ({PROMOTION_METRIC}={score:.6f})"


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    previous = logging.getLogger("mlflow").level
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.getLogger("mlflow").setLevel(previous)


def download_model(
    model_uri: str, tracking_uri: str, destination: Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Download a logged Keras model; return its ``.keras`` file and its fincast metadata.

    Nothing is unpickled: the caller loads the ``.keras`` file with Keras' safe loader.

    Raises:
        TrackingError: the URI names no model in this store.
    """
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
    import mlflow
    from mlflow.models import Model

    database = tracking_uri.removeprefix("sqlite:///")
    if database != tracking_uri and not Path(database).is_file():
        raise TrackingError(
            f"No tracking store at {database!r} yet, so no model {model_uri!r}. "
            "Train one with `make run` or `fincast-train`."
        )
    connect(tracking_uri)
    try:
        with _quiet_mlflow():
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=model_uri, dst_path=str(destination) if destination else None
                )
            )
    except Exception as error:  # MlflowException, missing alias, bad URI
        reason = str(error).splitlines()[0].strip().rstrip(".")
        raise TrackingError(
            f"No model at {model_uri!r} in {tracking_uri!r} ({reason}). "
            "Train one with `make run` or `fincast-train`, or choose another model URI "
            "(models:/<name>@<alias>, models:/<name>/<version> or a .keras file)."
        ) from error
    model_file = local / MODEL_FILE
    if not model_file.is_file():
        raise TrackingError(
            f"{model_uri!r} is not a Keras model logged by fincast (no {MODEL_FILE})."
        )
    metadata = Model.load(str(local / "MLmodel")).metadata or {}
    return model_file, json.loads(json.dumps(metadata))


# Read helpers for the dashboard (Runs, Backtest and Forecast pages). They never create a
# store: a missing SQLite file is a TrackingError that says how to make one.


def open_store(uri: str) -> Any:
    """An ``MlflowClient`` on an existing store (``connect`` would create a missing SQLite file).

    Raises:
        TrackingError: no SQLite file at the URI's path, or the server does not answer.
    """
    database = uri.removeprefix("sqlite:///")
    if database != uri and not Path(database).is_file():
        raise TrackingError(
            f"No MLflow store at {database!r} yet. Train a model with `make run` "
            "(or `fincast-train`), or set FINCAST_TRACKING_URI to your store."
        )
    return connect(uri)


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


def list_model_versions(uri: str, prefix: str = "fincast-") -> pd.DataFrame:
    """Registered versions of the models named ``prefix*``: name, version, aliases, run_id.

    Sorted by name, newest version first; ``aliases`` is a list (``["champion"]``).

    Raises:
        TrackingError: see :func:`open_store`.
    """
    client = open_store(uri)
    pattern = f"name LIKE '{prefix}%'"
    aliases: dict[tuple[str, int], list[str]] = {}
    for model in client.search_registered_models(pattern):  # versions found by search lack them
        for alias, number in (getattr(model, "aliases", None) or {}).items():
            aliases.setdefault((model.name, int(number)), []).append(str(alias))
    rows = [
        {
            "name": version.name,
            "version": int(version.version),
            "aliases": sorted(aliases.get((version.name, int(version.version)), [])),
            "run_id": version.run_id,
            "created": pd.to_datetime(version.creation_timestamp, unit="ms", utc=True),
        }
        for version in client.search_model_versions(pattern)
    ]
    columns = ["name", "version", "aliases", "run_id", "created"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["name", "version"], ascending=[True, False], ignore_index=True)


def run_of_model(uri: str, model_uri: str) -> str | None:
    """The run that logged a registered model (``models:/name/version`` or ``@alias``)."""
    if not model_uri.startswith("models:/"):
        return model_uri.split("/")[1] if model_uri.startswith("runs:/") else None
    name, _, rest = model_uri.removeprefix("models:/").partition("/")
    client = open_store(uri)
    try:
        if "@" in name:
            name, alias = name.split("@", 1)
            return str(client.get_model_version_by_alias(name, alias).run_id)
        return str(client.get_model_version(name, rest).run_id)
    except Exception:  # no such model, version or alias
        return None


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
    with _quiet_mlflow():
        return Path(client.download_artifacts(run_id, path, str(destination)))
