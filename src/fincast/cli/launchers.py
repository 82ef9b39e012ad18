"""Check, before Hydra starts, that the chosen launcher and sweeper can run here.

Hydra's launchers and sweepers are plugins that fincast's extras install
(``fincast[sweeps]``: joblib, submitit, Optuna; ``fincast[ray]``: Ray). Without one,
Hydra stops with a bare "Could not load hydra/launcher/joblib"; without SLURM,
submitit stops with a traceback after the sweep's MLflow run was opened. These
checks read the command line and fincast's config files only: no plugin is imported.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fincast.paths import config_dir


@dataclass(frozen=True)
class Plugin:
    """A Hydra plugin: the module that provides it and the fincast extra that installs it."""

    module: str
    extra: str


PLUGINS = {
    ("launcher", "joblib"): Plugin("hydra_plugins.hydra_joblib_launcher", "sweeps"),
    ("launcher", "submitit_local"): Plugin("hydra_plugins.hydra_submitit_launcher", "sweeps"),
    ("launcher", "submitit_slurm"): Plugin("hydra_plugins.hydra_submitit_launcher", "sweeps"),
    ("launcher", "ray"): Plugin("hydra_plugins.hydra_ray_launcher", "ray"),
    ("launcher", "ray_aws"): Plugin("hydra_plugins.hydra_ray_launcher", "ray"),
    ("sweeper", "optuna"): Plugin("hydra_plugins.hydra_optuna_sweeper", "sweeps"),
}
KINDS = ("launcher", "sweeper")
SLURM_COMMANDS = ("sbatch", "srun")  # submitit submits with sbatch and checks for srun
SHOW_ONLY = frozenset({"--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help"})


class LauncherUnavailable(ValueError):
    """The chosen Hydra launcher or sweeper cannot run on this machine."""


def module_installed(module: str) -> bool:
    """True when ``module`` can be imported here; nothing is imported but its parents.

    >>> module_installed("json"), module_installed("hydra_plugins.no_such_plugin")
    (True, False)
    """
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing (or refused)
        return False


def check_launchers(
    arguments: list[str],
    conf: Path | None = None,
    plugins: Mapping[tuple[str, str], Plugin] = PLUGINS,
) -> None:
    """Refuse a launcher or sweeper whose plugin is missing, or SLURM without SLURM.

    Args:
        arguments: the command line after the command name (Hydra's overrides, flags).
        conf: fincast's config directory (the installed one by default).
        plugins: the plugin of each ``(kind, plugin option)``.

    Raises:
        LauncherUnavailable: one line naming the choice and the install line or the fix.
    """
    conf = conf or config_dir()
    choices = chosen_plugins(arguments, conf)
    for kind, (chosen, plugin_name) in choices.items():
        plugin = plugins.get((kind, plugin_name))
        if plugin is not None and not module_installed(plugin.module):
            raise LauncherUnavailable(
                f"hydra/{kind}={chosen} needs Hydra's {plugin_name} {kind} plugin "
                f"({plugin.module}), which is not installed; "
                f"install it with: pip install 'fincast[{plugin.extra}]'"
            )
    launcher = choices.get("launcher")
    if launcher and launcher[1] == "submitit_slurm" and launches_jobs(arguments, conf):
        missing = [command for command in SLURM_COMMANDS if shutil.which(command) is None]
        if missing:
            raise LauncherUnavailable(
                f"SLURM's {missing[0]} is not on PATH; hydra/launcher={launcher[0]} submits "
                "each job to SLURM with it: run on a SLURM login node, or use "
                "hydra/launcher=submitit_local / local_parallel"
            )


def chosen_plugins(arguments: list[str], conf: Path) -> dict[str, tuple[str, str]]:
    """The launcher and sweeper chosen, as ``kind -> (option chosen, plugin option)``.

    A choice comes from the primary config, from a ``# @package _global_`` option
    such as ``hparams_search=lstm_optuna`` (its ``override /hydra/sweeper`` entry), or
    from ``hydra/launcher=...`` itself, later ones winning. fincast's own options
    (``local_parallel``) are followed to the plugin's option they extend (``joblib``).
    """
    chosen: dict[str, str] = {}
    for group, option in [("", "config"), *_group_choices(arguments)]:
        if group.startswith("hydra/") and group.removeprefix("hydra/") in KINDS:
            chosen[group.removeprefix("hydra/")] = option
            continue
        defaults = _yaml_of(conf / group / f"{option}.yaml").get("defaults") or []
        chosen.update(_hydra_choices_in(defaults))
    return {kind: (option, _plugin_option(kind, option, conf)) for kind, option in chosen.items()}


def launches_jobs(arguments: list[str], conf: Path) -> bool:
    """True when the command runs a multirun (``-m``, ``hydra.mode=MULTIRUN``, or an
    option that sets it, such as ``hparams_search``), not just shows the config."""
    if SHOW_ONLY & set(arguments):
        return False
    if {"-m", "--multirun", "hydra.mode=MULTIRUN"} & set(arguments):
        return True
    for group, option in _group_choices(arguments):
        hydra_node = _yaml_of(conf / group / f"{option}.yaml").get("hydra") or {}
        if isinstance(hydra_node, dict) and hydra_node.get("mode") == "MULTIRUN":
            return True
    return False


def _group_choices(arguments: list[str]) -> list[tuple[str, str]]:
    """``(group, option)`` of each ``group=option`` override (``+`` and ``++`` too)."""
    choices = []
    for argument in arguments:
        key, equals, value = argument.lstrip("+").partition("=")
        if equals and not argument.startswith(("-", "~")) and "." not in key:
            choices += [(key, option.strip()) for option in value.split(",") if option.strip()]
    return choices


def _hydra_choices_in(defaults: list[Any]) -> dict[str, str]:
    """Launcher and sweeper choices in a defaults list (``override /hydra/sweeper: optuna``)."""
    chosen = {}
    for entry in defaults:
        if not isinstance(entry, dict):
            continue
        for key, value in entry.items():
            group = str(key).removeprefix("override").strip().lstrip("/")
            if group.startswith("hydra/") and group.removeprefix("hydra/") in KINDS:
                chosen[group.removeprefix("hydra/")] = str(value)
    return chosen


def _plugin_option(kind: str, option: str, conf: Path) -> str:
    """The plugin's option that fincast's ``option`` file extends, else ``option`` itself."""
    for _ in range(5):  # a few levels at most; fincast's files extend a plugin's directly
        defaults = _yaml_of(conf / "hydra" / kind / f"{option}.yaml").get("defaults") or []
        strings = [entry for entry in defaults if isinstance(entry, str) and entry != "_self_"]
        if not strings:
            return option
        option = strings[0]
    return option


def _yaml_of(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; empty when there is no such file (or no mapping)."""
    if not path.is_file():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}
