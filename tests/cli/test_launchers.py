"""The launcher and sweeper checks that run before Hydra, and Hydra's errors on one line."""

from __future__ import annotations

import os
import shutil

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from fincast.cli.common import hydra_error_line
from fincast.cli.launchers import (
    PLUGINS,
    LauncherUnavailable,
    Plugin,
    check_launchers,
    chosen_plugins,
    launches_jobs,
    module_installed,
)
from fincast.cli.schema import register_schemas
from fincast.paths import config_dir

CONF = config_dir()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], {}),
        (["hydra/launcher=local_parallel"], {"launcher": ("local_parallel", "joblib")}),
        (["hydra/launcher=slurm"], {"launcher": ("slurm", "submitit_slurm")}),
        (["hydra/launcher=ray_cluster"], {"launcher": ("ray_cluster", "ray")}),
        (["+hydra/launcher=submitit_local"], {"launcher": ("submitit_local", "submitit_local")}),
        (["hparams_search=lstm_optuna"], {"sweeper": ("optuna", "optuna")}),
        (["hydra/sweeper=optuna", "model=mlp"], {"sweeper": ("optuna", "optuna")}),
    ],
)
def test_the_chosen_launcher_and_sweeper_are_read_from_the_command_line(arguments, expected):
    assert chosen_plugins(arguments, CONF) == expected


def test_every_launcher_file_of_fincast_extends_a_known_plugin():
    for path in sorted((CONF / "hydra" / "launcher").glob("*.yaml")):
        chosen = chosen_plugins([f"hydra/launcher={path.stem}"], CONF)
        assert ("launcher", chosen["launcher"][1]) in PLUGINS, path.name


def test_a_missing_plugin_names_the_extra_that_installs_it():
    missing = {("launcher", "joblib"): Plugin("hydra_plugins.no_such_launcher", "sweeps")}
    with pytest.raises(LauncherUnavailable) as refused:
        check_launchers(["-m", "hydra/launcher=local_parallel"], CONF, missing)
    message = str(refused.value)
    assert "hydra/launcher=local_parallel" in message
    assert "pip install 'fincast[sweeps]'" in message
    assert "\n" not in message


def test_a_missing_sweeper_inside_hparams_search_is_named():
    missing = {("sweeper", "optuna"): Plugin("hydra_plugins.no_such_sweeper", "sweeps")}
    with pytest.raises(LauncherUnavailable, match=r"hydra/sweeper=optuna .*fincast\[sweeps\]"):
        check_launchers(["hparams_search=lstm_optuna"], CONF, missing)


def test_an_installed_plugin_passes():
    present = {("launcher", "joblib"): Plugin("json", "sweeps")}
    check_launchers(["-m", "hydra/launcher=local_parallel"], CONF, present)


def test_module_installed_answers_without_importing():
    assert module_installed("json")
    assert not module_installed("hydra_plugins.no_such_plugin")
    assert not module_installed("no_such_package.no_such_module")


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="SLURM is installed here")
def test_slurm_without_sbatch_is_refused_only_when_jobs_would_be_submitted():
    installed = {("launcher", "submitit_slurm"): Plugin("json", "sweeps")}
    with pytest.raises(LauncherUnavailable, match="SLURM's sbatch is not on PATH"):
        check_launchers(["-m", "hydra/launcher=slurm"], CONF, installed)
    check_launchers(["hydra/launcher=slurm", "--cfg", "hydra"], CONF, installed)
    check_launchers(["hydra/launcher=slurm"], CONF, installed)  # a single run runs here


def test_slurm_with_its_commands_on_path_passes(tmp_path, monkeypatch):
    for command in ("sbatch", "srun"):
        script = tmp_path / command
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    installed = {("launcher", "submitit_slurm"): Plugin("json", "sweeps")}
    check_launchers(["-m", "hydra/launcher=slurm"], CONF, installed)


@pytest.mark.parametrize(
    ("arguments", "launches"),
    [
        (["-m"], True),
        (["--multirun", "model=mlp"], True),
        (["hydra.mode=MULTIRUN"], True),
        (["hparams_search=lstm_optuna"], True),
        (["hparams_search=lstm_optuna", "--cfg", "job"], False),
        (["model=mlp"], False),
    ],
)
def test_a_multirun_is_recognised(arguments, launches):
    assert launches_jobs(arguments, CONF) is launches


def composition_error(*overrides: str) -> HydraException:
    register_schemas()
    with (
        initialize_config_dir(config_dir=str(CONF), version_base="1.3"),
        pytest.raises(HydraException) as raised,
    ):
        compose(config_name="config", overrides=list(overrides))
    return raised.value


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "model=nosuch",
            "In 'config': Could not find 'model/nosuch'; Available options in 'model': ",
        ),
        (
            "training.epochs=abc",
            "Error merging override training.epochs=abc; "
            "Value 'abc' of type 'str' could not be converted to Integer",
        ),
        ("data.tickers=[a", "Could not parse override 'data.tickers=[a': no viable alternative"),
    ],
)
def test_hydra_errors_read_as_one_line(override, expected):
    line = hydra_error_line(composition_error(override))
    assert line.startswith(expected)
    assert "\n" not in line and "\t" not in line
    assert "Config search path" not in line and "full_key" not in line


def test_the_options_of_a_group_are_listed_on_the_line():
    line = hydra_error_line(composition_error("model=nosuch"))
    options = sorted(path.stem for path in (CONF / "model").glob("*.yaml"))
    assert line.endswith("options in 'model': " + ", ".join(options))
