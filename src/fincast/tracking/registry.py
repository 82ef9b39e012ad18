"""The model registry: the champion alias, registered versions, downloading a model.

Nothing is unpickled: a downloaded model is a ``.keras`` file the caller loads with
Keras' safe loader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from fincast.specs import PROMOTIONS as PROMOTION_MODES
from fincast.tracking.names import CHAMPION, PREFIX
from fincast.tracking.store import TrackingError, connect, open_store, quiet_mlflow

MODEL_FILE = Path("data") / "model.keras"
PROMOTION_METRIC = "test_mae_vs_naive"
EVALUATION_TAG = "evaluation_key"
CHAMPION_TAG = "champion"
CHAMPION_REASON_TAG = "champion_reason"


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

    The tag ``champion`` follows the alias: the run of ``version`` gets
    ``champion=true`` or ``false`` (and ``champion_reason``), and when the alias moves
    away from another version, that version's run gets ``champion=false``.

    Returns:
        Whether the alias moved, and why (one line).
    """
    if mode not in PROMOTION_MODES:
        raise ValueError(
            f"Unknown promotion mode {mode!r}; choose one of {', '.join(PROMOTION_MODES)}."
        )
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:  # no such alias yet
        current = None
    promoted, reason = _promotion_decision(client, current, version, score, evaluation_key, mode)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    candidate_run = client.get_model_version(name, version).run_id
    if candidate_run:
        set_champion_tag(client, candidate_run, promoted, reason)
    if promoted and current is not None and current.run_id not in (None, "", candidate_run):
        set_champion_tag(
            client, current.run_id, False, f"v{version} replaced v{current.version} as champion"
        )
    return promoted, reason


def _promotion_decision(
    client: Any, current: Any, version: str, score: float, evaluation_key: str, mode: str
) -> tuple[bool, str]:
    """Whether ``version`` should take the alias from ``current`` (None: no champion yet)."""
    if mode == "never":
        return False, "promotion is off (tracking.promotion=never)"
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
    return True, f"v{version} is the new champion ({PROMOTION_METRIC}={score:.6f})"


def set_champion_tag(client: Any, run_id: str, champion: bool, reason: str) -> None:
    """Tag run ``run_id`` ``champion=true|false`` with the reason (``champion_reason``)."""
    client.set_tag(run_id, CHAMPION_TAG, str(champion).lower())
    client.set_tag(run_id, CHAMPION_REASON_TAG, reason)


def download_model(
    model_uri: str, tracking_uri: str, destination: Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Download a logged Keras model; return its ``.keras`` file and its fincast metadata.

    Nothing is unpickled: the caller loads the ``.keras`` file with Keras' safe loader.

    Raises:
        TrackingError: the URI names no model in this store.
    """
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
    import yaml

    from fincast.tracking.local_registry import find_local_model

    database = tracking_uri.removeprefix("sqlite:///")
    if database != tracking_uri and not Path(database).is_file():
        raise TrackingError(
            f"No tracking store at {database!r} yet, so no model {model_uri!r}. "
            "Train one with `make run` or `fincast-train`."
        )
    # a local store's model is read in place, without starting MLflow (seconds)
    local = None if destination else find_local_model(model_uri, tracking_uri)
    if local is None:
        local = _download_with_mlflow(model_uri, tracking_uri, destination)
    model_file = local / MODEL_FILE
    if not model_file.is_file():
        raise TrackingError(
            f"{model_uri!r} is not a Keras model logged by fincast (no {MODEL_FILE})."
        )
    metadata = yaml.safe_load((local / "MLmodel").read_text()).get("metadata") or {}
    return model_file, json.loads(json.dumps(metadata))


def _download_with_mlflow(model_uri: str, tracking_uri: str, destination: Path | None) -> Path:
    """MLflow's copy of the logged model's folder."""
    import mlflow

    connect(tracking_uri)
    try:
        with quiet_mlflow():
            return Path(
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


def list_model_versions(uri: str, prefix: str = PREFIX) -> pd.DataFrame:
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
