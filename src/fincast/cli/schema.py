"""The structured schema: a misspelt key or a wrongly typed value fails at start.

The schema is :class:`fincast.specs.JobSpec`, registered in Hydra's ConfigStore as
``fincast_schema``, the first entry of ``conf/config.yaml``'s defaults, so Hydra
checks every composed config (command-line overrides, experiments, sweeps) against
it: an unknown key names the key and the schema, a value of the wrong type names the
key, the value and the type. Ranges and choices are checked when the spec is built
(:func:`fincast.cli.common.job_spec`), naming the key, the value and what is allowed.
Model builders (``model.builder``) take options that differ per family, so that
node is typed loosely and checked by the builder it configures.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fincast.specs import JobSpec

# config groups that only select files (`# @package _global_` overrides), not keys
GROUPS_WITHOUT_SCHEMA = ("experiment", "hparams_search")


def register_schemas() -> None:
    """Put the job spec in Hydra's ConfigStore as ``fincast_schema`` (idempotent).

    The spec's dataclasses are frozen, so OmegaConf would make the schema read-only
    and Hydra could not merge the config files into it; the stored node is the same
    schema with the read-only flags lifted. ``OmegaConf.to_object`` of the composed
    config still builds the frozen :class:`~fincast.specs.JobSpec`.
    """
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(
        name="fincast_schema", node=_writable(OmegaConf.structured(JobSpec))
    )


def _writable(node: DictConfig) -> DictConfig:
    """``node`` with every read-only flag (set by frozen dataclasses) lifted."""
    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _writable(child)
        elif child is not None:
            child._set_flag("readonly", None)
    return node


def check_override_keys(arguments: list[str]) -> None:
    """Raise ValueError for an override whose key the schema does not know, listing the known keys.

    Hydra rejects such keys too, but suggests appending them with ``+``; for a typo
    the known keys are the better hint. A ``+key`` the schema lacks is refused the
    same way: Hydra would add it, and fincast would silently ignore it. Group
    choices, ``~`` deletions, Hydra's own keys and the free-form ``model.builder`` and
    ``data.options`` are left to Hydra.

    >>> check_override_keys(["training.epoch=3"])
    Traceback (most recent call last):
    ...
    ValueError: Unknown config key 'training.epoch'; training has: epochs, batch_size, \
learning_rate, patience, reduce_lr, precision, distribution, verbose, jit_compile, pooling
    """
    for argument in arguments:
        key, equals, _ = argument.partition("=")
        key = key.removeprefix("++").removeprefix("+")  # appending a key the schema lacks
        if not equals or key.startswith(("-", "~", "hydra")) or "/" in key:
            continue
        if key in GROUPS_WITHOUT_SCHEMA:
            continue
        node: Any = JobSpec
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if not dataclasses.is_dataclass(node):
                break
            hints = typing.get_type_hints(node)
            if part not in hints:
                where = ".".join(parts[:depth]) or "the config"
                raise ValueError(f"Unknown config key {key!r}; {where} has: {', '.join(hints)}")
            node = _dataclass_in(hints[part])


def _dataclass_in(annotation: Any) -> Any:
    """The dataclass inside ``X`` or ``X | None``, else None."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    for member in typing.get_args(annotation):
        if dataclasses.is_dataclass(member):
            return member
    return None
