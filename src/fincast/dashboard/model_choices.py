"""The dashboard's model picker: registered versions and aliases, saved files, tasks.

Plain functions, no Streamlit and no Keras, like :mod:`fincast.dashboard.content`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fincast.dashboard.content import Settings
from fincast.tracking.names import CHAMPION, champion_uri, parse_registered_name

DEFAULT_TASK = "returns"
DEFAULT_FAMILY = "lstm"
OTHER_MODEL = "Other model URI..."


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker: what the user reads and the URI it loads."""

    label: str
    uri: str
    task: str | None = None


def task_of(name: str) -> str | None:
    """The task of a registered name ``fincast-<task>-<family>`` (``None`` if not fincast's)."""
    parsed = parse_registered_name(name)
    return parsed.task if parsed else None


def registry_choices(versions: pd.DataFrame) -> list[ModelChoice]:
    """Aliases first (champion before others), then every version, per registered model.

    Args:
        versions: :func:`fincast.tracking.registry.list_model_versions`.
    """
    choices: list[ModelChoice] = []
    for name, group in versions.groupby("name", sort=True):
        pairs = {
            (str(alias), int(version))
            for version, names in zip(group["version"], group["aliases"], strict=True)
            for alias in names
        }
        aliases = sorted(pairs, key=lambda pair: (pair[0] != CHAMPION, pair[0]))
        for alias, version in aliases:
            label = f"{name} @{alias} (version {version})"
            choices.append(ModelChoice(label, f"models:/{name}@{alias}", task_of(str(name))))
        for version in group["version"]:
            label = f"{name} version {version}"
            choices.append(ModelChoice(label, f"models:/{name}/{version}", task_of(str(name))))
    return choices


def local_choices(models_dir: str | Path, limit: int = 20) -> list[ModelChoice]:
    """Saved ``.keras`` files with a card beside them, newest first (at most ``limit``)."""
    folder = Path(models_dir)
    if not folder.is_dir():
        return []
    files = [path for path in folder.glob("*/*.keras") if path.with_suffix(".json").is_file()]
    files.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return [
        ModelChoice(f"file {path.parent.name}/{path.name}", str(path), task_of(path.parent.name))
        for path in files[:limit]
    ]


def model_choices(
    settings: Settings, versions: pd.DataFrame | None, task: str | None = None
) -> list[ModelChoice]:
    """Every model the picker offers for ``task``: the configured URI, registry, local files.

    The first entry is the default: ``FINCAST_MODEL_URI`` when set, else the champion of
    the task's LSTM, else any champion of the task, else the newest entry.
    """
    found = registry_choices(versions) if versions is not None else []
    found += local_choices(settings.models_dir)
    if task is not None:
        found = [choice for choice in found if choice.task in (task, None)]
    preferred = champion_uri(task or DEFAULT_TASK, DEFAULT_FAMILY)
    found.sort(key=lambda choice: (choice.uri != preferred, not choice.uri.endswith(CHAMPION)))
    if settings.model_uri:
        configured = ModelChoice(
            f"configured: {settings.model_uri}", settings.model_uri, task_of_uri(settings.model_uri)
        )
        found = [configured] + [choice for choice in found if choice.uri != settings.model_uri]
    return found


def task_of_uri(uri: str) -> str | None:
    """The task a model URI names: ``models:/fincast-<task>-...`` or ``fincast-<task>-.../x.keras``.

    >>> task_of_uri("models/fincast-volatility-mlp/20260101T000000.keras")
    'volatility'
    >>> task_of_uri("runs:/abc/model") is None
    True
    """
    if uri.startswith("models:/"):
        return task_of(uri.removeprefix("models:/").split("/")[0].split("@")[0])
    return task_of(Path(uri).parent.name) if uri.endswith(".keras") else None


def available_tasks(choices: list[ModelChoice], configured: list[str]) -> list[str]:
    """Tasks with a model first (the default model's first), then ``conf/task``'s, no repeats."""
    with_model = [choice.task for choice in choices if choice.task]
    return list(dict.fromkeys([*with_model, *configured])) or [DEFAULT_TASK]


def configured_tasks() -> list[str]:
    """The task names of ``conf/task/*.yaml``."""
    from fincast.paths import config_dir

    try:
        folder = config_dir() / "task"
    except FileNotFoundError:
        return [DEFAULT_TASK]
    return sorted(path.stem for path in folder.glob("*.yaml")) or [DEFAULT_TASK]
