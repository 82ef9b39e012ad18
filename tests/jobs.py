"""Small job specs for tests: ``make_job(lookback=10, epochs=1, model="mlp", units=[8])``.

Each keyword is the name of a field of exactly one part of :class:`fincast.specs.JobSpec`
(``data``, ``features``, ``task``, ``training``, ``evaluation``, ``tracking``,
``paths``) and goes there; ``model`` names the family (its builder is
``fincast.models.builders.build_<family>``), ``features`` the feature names, and any
other keyword that no part has is a builder option (``units=[8]``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fincast.specs import (
    DataSpec,
    EvaluationSpec,
    FeaturesSpec,
    FitSpec,
    JobSpec,
    ModelSpec,
    PathsSpec,
    TaskSpec,
    TrackingSpec,
)

PARTS = {
    "data": DataSpec,
    "features": FeaturesSpec,
    "task": TaskSpec,
    "training": FitSpec,
    "evaluation": EvaluationSpec,
    "tracking": TrackingSpec,
    "paths": PathsSpec,
}
TOP = {"seed", "backend", "model_uri", "output"}


def make_job(model: str = "lstm", features: list[str] | None = None, **settings: Any) -> JobSpec:
    """A :class:`JobSpec` from flat keywords (see the module docstring)."""
    parts: dict[str, dict[str, Any]] = {part: {} for part in PARTS}
    top: dict[str, Any] = {}
    builder: dict[str, Any] = {"_target_": f"fincast.models.builders.build_{model}"}
    if features is not None:
        parts["features"]["names"] = list(features)
    for key, value in settings.items():
        owners = [
            part
            for part, kind in PARTS.items()
            if key in {item.name for item in dataclasses.fields(kind)}
        ]
        if key in TOP:
            top[key] = value
        elif key == "task_name":
            parts["task"]["name"] = value
        elif len(owners) == 1:
            parts[owners[0]][key] = value
        elif owners:
            raise TypeError(f"{key!r} is a field of {owners}; build that part yourself")
        else:
            builder[key] = value
    if parts["task"].get("name") == "volatility":
        parts["task"].setdefault("target", "realised_vol")
    built = {part: PARTS[part](**values) for part, values in parts.items()}
    return JobSpec(**built, model=ModelSpec(name=model, builder=builder), **top)
