"""One MLflow run, guarded: a tracking failure never loses a trained model.

Every call made during a run is guarded, failures are collected in
:attr:`RunTracker.failures` and reported, and the caller has already saved the model
locally.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from fincast.backend import tensorflow_left_alone
from fincast.tracking.liveness import close_dead_runs, process_tags
from fincast.tracking.provenance import source_tags
from fincast.tracking.store import (
    checkpoint,
    connect,
    ensure_experiment,
    quiet_mlflow,
    store_answers,
)

logger = logging.getLogger(__name__)
Result = TypeVar("Result")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``{"a.b": "value"}`` with MLflow-sized string values.

    Lists are JSON (``["^GSPC", "^IXIC"]``); Hydra's instantiation keys (``_target_``,
    ``_partial_``, ...) are left out: they name code, not settings.

    >>> flatten({"data": {"tickers": ["^GSPC"]}, "optimizer": {"_target_": "x", "lr": 0.1}})
    {'data.tickers': '["^GSPC"]', 'optimizer.lr': '0.1'}
    """
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if str(key).startswith("_") and str(key).endswith("_"):
            continue
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(list(value), default=str)[:6000]
        else:
            flat[name] = str(value)[:6000]
    return flat


def _requirements() -> list[str]:
    """What a serving environment needs to load a fincast model (skips MLflow's slow inference)."""
    from importlib.metadata import version

    return [f"keras=={version('keras')}", f"fincast=={version('fincast')}"]


PYFUNC_LOADER = "fincast.serving.pyfunc"  # imported by MLflow when it loads the model


class _FincastFlavor:
    """MLflow's Keras flavour plus a ``python_function`` flavour served by fincast's pyfunc.

    The ``keras`` flavour keeps the ``.keras`` file for ``mlflow.keras.load_model``; the
    ``python_function`` flavour's loader is :mod:`fincast.serving.pyfunc` (bars in, dated
    forecast out), so MLflow's pyfunc clients and ``mlflow models serve`` load a
    fincast model without pickles. The input example is checked as MLflow's scoring
    server would parse it before anything is uploaded; a model that fails is not logged.
    """

    @staticmethod
    def save_model(path: str, mlflow_model: Any, **kwargs: Any) -> None:
        import warnings

        import mlflow.keras
        from mlflow.models import validate_serving_input

        Path(path).mkdir(parents=True, exist_ok=True)  # MLflow 3.17 writes the example first
        kwargs.pop("validate_serving_input", None)
        signature = kwargs.pop("signature")  # the Keras flavour accepts tensor signatures only
        with quiet_mlflow():  # its warning about the missing signature, set just below
            mlflow.keras.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        mlflow_model.signature = signature
        pyfunc = mlflow_model.flavors["python_function"]
        pyfunc["loader_module"] = PYFUNC_LOADER
        pyfunc["data"] = mlflow_model.flavors["keras"].get("data", "data")
        mlflow_model.save(str(Path(path) / "MLmodel"))
        serving_input = mlflow_model.get_serving_input(path)
        if serving_input:
            with warnings.catch_warnings():  # the public helper is marked deprecated
                warnings.simplefilter("ignore")
                validate_serving_input(path, serving_input)


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
        close_dead_runs(self.client, self.experiment_id)
        tags = {**source_tags(), **process_tags()}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
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
        signature: Any,
        input_example: pd.DataFrame,
        metadata: Mapping[str, Any],
        registered_name: str | None,
    ) -> str | None:
        """Log ``model`` as a Keras + fincast pyfunc MLflow model and register it.

        Args:
            model: the trained Keras model.
            signature: the pyfunc's signature (:func:`fincast.serving.pyfunc.signature`).
            input_example: recent bars, as a user sends them to the served model.
            metadata: stored in ``MLmodel`` (``{"fincast": card}``).
            registered_name: the registered model to add a version to, or None.

        Returns:
            The model URI (``models:/name/version`` when registered), or ``None`` if logging failed.
        """
        import mlflow
        from mlflow.models import Model

        def action() -> str:
            with (
                mlflow.start_run(run_id=self.run_id),
                tensorflow_left_alone(),
                quiet_mlflow(),  # "Created version 1 ..."; fincast prints the model URI itself
                contextlib.redirect_stderr(io.StringIO()),  # "Successfully registered model"
            ):
                info = Model.log(
                    artifact_path=None,
                    name="model",
                    flavor=_FincastFlavor,
                    flavor_name="mlflow.keras",
                    model=model,
                    signature=signature,
                    input_example=input_example,
                    metadata=dict(metadata),
                    registered_model_name=registered_name,
                    validate_serving_input=False,  # done by _FincastFlavor, which raises
                    pip_requirements=_requirements(),
                )
            version = info.registered_model_version
            return (
                f"models:/{registered_name}/{version}"
                if registered_name and version
                else info.model_uri
            )

        return self._guard("model", action)

    def log_dataset(
        self, frame: pd.DataFrame, *, name: str, source: Mapping[str, Any], digest: str
    ) -> None:
        """Log the input data as an MLflow dataset (schema, profile, source and content digest).

        ``source`` (``kind``, ``location``, ``tickers``) becomes a
        :class:`fincast.mlflow_plugin.FincastDatasetSource`, so MLflow need not guess
        the source from a path.
        """
        import mlflow
        from mlflow.data.pandas_dataset import from_pandas

        # after mlflow: importing mlflow imports the plugin through its entry point
        from fincast.mlflow_plugin import FincastDatasetSource

        def action() -> None:
            dataset = from_pandas(
                frame,
                source=FincastDatasetSource.from_dict(dict(source)),
                name=name,
                digest=digest[:36] or None,
            )
            with mlflow.start_run(run_id=self.run_id):
                mlflow.log_input(dataset, context="training")

        self._guard("dataset", action)

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` (``FINISHED`` or ``FAILED``)."""
        self._guard("run end", lambda: self.client.set_terminated(self.run_id, status=status))
        checkpoint(self.uri)
