"""What a finished sweep leaves in MLflow: its config, its children, its one registered model.

Sweep jobs log their models but register none: selecting among them is model
selection, and it happens here, on the VALIDATION loss, once the sweep is over. The
held-out test score only decides, as for any new version, whether the selected
model takes alias ``champion`` (:func:`~fincast.tracking.registry.promote_if_better`).

Children are compared within a selection group (the same task on the same tickers:
one group for a pooled sweep, one per ticker for a per-ticker sweep); the best of
each group is registered under its own registered name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pandas as pd

from fincast.tracking.registry import EVALUATION_TAG, PROMOTION_METRIC, promote_if_better
from fincast.tracking.run_tracker import flatten

VALIDATION_METRIC = "best_val_loss"
OVERRIDES_TAG = "fincast.overrides"
REGISTERED_NAME_TAG = "fincast.registered_name"
MODEL_URI_TAG = "fincast.model_uri"
SELECTION_TAG = "fincast.selection_group"
CHILDREN_FILE = "sweep/children.csv"
CONFIG_FILE = "config/sweep.yaml"
COLUMNS = [
    "run_id",
    "run_name",
    "overrides",
    "status",
    VALIDATION_METRIC,
    PROMOTION_METRIC,
    "registered_name",
    "selection_group",
]


class Registration(NamedTuple):
    """The child registered for one selection group, and what the champion rule said."""

    run_id: str
    run_name: str
    validation_loss: float
    name: str
    version: str | None
    promoted: bool
    reason: str

    def describe(self) -> str:
        """One line: which child, under which name, and whether it became champion."""
        child = (
            f"run {self.run_id} ({self.run_name}, {VALIDATION_METRIC}={self.validation_loss:.6g})"
        )
        if self.version is None:
            return f"best child {child} for {self.name}: not registered ({self.reason})"
        verdict = "champion" if self.promoted else "not champion"
        return f"registered child {child} as {self.name} v{self.version}; {verdict}: {self.reason}"


def child_runs(client: Any, parent_run_id: str) -> list[Any]:
    """Every run whose ``mlflow.parentRunId`` is ``parent_run_id``, oldest first."""
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def child_overrides(run: Any) -> list[str]:
    """The swept overrides of a child (``["model.builder.units=32", ...]``)."""
    try:
        overrides = json.loads(run.data.tags.get(OVERRIDES_TAG, "[]"))
    except json.JSONDecodeError:
        return []
    return [str(item) for item in overrides] if isinstance(overrides, list) else []


def children_table(children: Sequence[Any]) -> pd.DataFrame:
    """One row per child: id, name, overrides, status, validation loss, test score, name."""
    rows = [
        {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "overrides": " ".join(child_overrides(run)),
            "status": run.info.status,
            VALIDATION_METRIC: run.data.metrics.get(VALIDATION_METRIC, math.nan),
            PROMOTION_METRIC: run.data.metrics.get(PROMOTION_METRIC, math.nan),
            "registered_name": run.data.tags.get(REGISTERED_NAME_TAG, ""),
            "selection_group": run.data.tags.get(SELECTION_TAG, ""),
        }
        for run in children
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def best_children(children: Sequence[Any]) -> list[Any]:
    """Per selection group, the FINISHED child with the lowest validation loss.

    Children without a finite validation loss or a registered name take no part.
    """
    best: dict[str, Any] = {}
    for run in children:
        loss = run.data.metrics.get(VALIDATION_METRIC)
        if (
            run.info.status != "FINISHED"
            or loss is None
            or not math.isfinite(loss)
            or not run.data.tags.get(REGISTERED_NAME_TAG)
        ):
            continue
        group = run.data.tags.get(SELECTION_TAG, "")
        if group not in best or loss < best[group].data.metrics[VALIDATION_METRIC]:
            best[group] = run
    return list(best.values())


def logged_model_uri(run: Any) -> str:
    """The URI of the model a child logged: its ``fincast.model_uri`` tag, else its output."""
    uri = run.data.tags.get(MODEL_URI_TAG, "")
    if uri.startswith("models:/"):
        return str(uri)
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    if outputs:
        return f"models:/{outputs[-1].model_id}"
    return f"runs:/{run.info.run_id}/model"


def register_child(client: Any, run: Any, *, register: bool, promotion: str) -> Registration:
    """Register ``run``'s logged model as a new version of its name; maybe promote it.

    Uses MLflow's global registry URI, which :func:`fincast.tracking.store.connect` sets.
    """
    import mlflow

    name = run.data.tags[REGISTERED_NAME_TAG]
    loss = float(run.data.metrics[VALIDATION_METRIC])
    selected = (run.info.run_id, run.info.run_name, loss, name)
    if not register:
        return Registration(*selected, None, False, "tracking.register=false")
    version = str(mlflow.register_model(logged_model_uri(run), name).version)
    score = run.data.metrics.get(PROMOTION_METRIC)
    if score is None:
        return Registration(*selected, version, False, f"the run has no {PROMOTION_METRIC}")
    promoted, reason = promote_if_better(
        client,
        name,
        version,
        float(score),
        evaluation_key=run.data.tags.get(EVALUATION_TAG, ""),
        mode=promotion,
    )
    return Registration(*selected, version, promoted, reason)


def best_params(run: Any) -> dict[str, str]:
    """``best.<key>``: the overrides of the best child, keys made MLflow-safe."""
    params = {}
    for override in child_overrides(run):
        key, _, value = override.partition("=")
        params[f"best.{param_key(key)}"] = value
    return params


def param_key(key: str) -> str:
    """An override key as an MLflow param name (``+a.b`` -> ``a.b``, no odd characters)."""
    return re.sub(r"[^\w\-. /:]", "_", key.lstrip("+~")) or "_"


def log_params(client: Any, run_id: str, params: Mapping[str, Any]) -> None:
    """Log (nested) ``params`` on ``run_id``, 100 at a time, keys made MLflow-safe."""
    from mlflow.entities import Param

    items = [Param(param_key(key), value) for key, value in flatten(params).items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start : start + 100])


def record_sweep_config(
    client: Any, parent_run_id: str, sweep_config: Mapping[str, Any], config_yaml: str
) -> None:
    """The sweep's overrides, sweeper and launcher as params and as ``config/sweep.yaml``."""
    log_params(client, parent_run_id, sweep_config)
    client.log_text(parent_run_id, config_yaml, CONFIG_FILE)


def summarise_sweep(
    client: Any,
    parent_run_id: str,
    *,
    register: bool,
    promotion: str,
    optuna_results: Mapping[str, Any] | None = None,
) -> list[Registration]:
    """Record the children on the parent run and register the best child of each group.

    The parent gets ``sweep/children.csv``, metric ``best_val_loss``, params
    ``best.<key>`` (the overrides of the best child), tags ``best.run_id`` and
    ``best.run_name``, and, when the Optuna sweeper ran, ``optuna.best_value`` and
    ``optuna.best.<key>``. With ``register`` false nothing is registered.

    Returns:
        One :class:`Registration` per selection group (empty: no child finished).
    """
    children = child_runs(client, parent_run_id)
    record_children(client, parent_run_id, children, optuna_results)
    return [
        register_child(client, run, register=register, promotion=promotion)
        for run in best_children(children)
    ]


def record_children(
    client: Any,
    parent_run_id: str,
    children: Sequence[Any],
    optuna_results: Mapping[str, Any] | None = None,
) -> None:
    """The children table, the best child's loss and overrides, Optuna's best, on the parent."""
    client.log_text(parent_run_id, children_table(children).to_csv(index=False), CHILDREN_FILE)
    failed = sum(run.info.status != "FINISHED" for run in children)
    client.set_tag(parent_run_id, "fincast.children", str(len(children)))
    client.set_tag(parent_run_id, "fincast.children_not_finished", str(failed))
    finalists = best_children(children)
    if finalists:
        best = min(finalists, key=lambda run: run.data.metrics[VALIDATION_METRIC])
        client.log_metric(parent_run_id, VALIDATION_METRIC, best.data.metrics[VALIDATION_METRIC])
        log_params(client, parent_run_id, best_params(best))
        client.set_tag(parent_run_id, "best.run_id", best.info.run_id)
        client.set_tag(parent_run_id, "best.run_name", best.info.run_name)
    if optuna_results and "best_value" in optuna_results:
        client.log_metric(parent_run_id, "optuna.best_value", float(optuna_results["best_value"]))
        log_params(
            client,
            parent_run_id,
            {
                f"optuna.best.{param_key(str(key))}": value
                for key, value in (optuna_results.get("best_params") or {}).items()
            },
        )
