"""How the CLIs fail and what they print on stderr, run as a user runs them.

A user error (Hydra's own included) ends with one line and status 2; a bug in the
task keeps its traceback and status 1; a training run prints only fincast's lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from fincast_cli import BIN
from fincast_cli import run_cli as run

pytestmark = pytest.mark.e2e

# Settings a developer's shell or the test process may hold that would hide noise.
QUIETING = ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL", "KERAS_BACKEND", "PYTHONWARNINGS")


def assert_one_line_error(result: subprocess.CompletedProcess[str], command: str, *named: str):
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"{command}: error: ")
    for text in named:
        assert text in lines[0]


@pytest.mark.parametrize(
    ("command", "override", "named"),
    [
        ("fincast-train", "training.epochs=", ["training.epochs", "converted to Integer"]),
        ("fincast-train", "training.epochs=abc", ["'abc'", "converted to Integer"]),
        ("fincast-train", "model=nosuch", ["'model/nosuch'", "lstm"]),
        ("fincast-train", "data.tickers=[a", ["'data.tickers=[a'"]),
        ("fincast-train", "hydra.job.nosuch=1", ["'hydra.job.nosuch'", "not in"]),
        ("fincast-train", "training.epochz=1", ["'training.epochz'", "epochs"]),
        ("fincast-train", "model=lstm,mlp", ["Ambiguous value", "--multirun"]),
        ("fincast-train", "--resolve", ["--resolve", "--cfg"]),
        ("fincast-backtest", "evaluation=nosuch", ["'evaluation/nosuch'"]),
        ("fincast-forecast", "output=${nosuch}", ["'nosuch'"]),
    ],
)
def test_a_config_error_is_one_line_and_status_2(tmp_path, command, override, named):
    assert_one_line_error(run(command, override, cwd=tmp_path, timeout=120), command, *named)


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="SLURM is installed here")
def test_slurm_without_slurm_is_one_line_and_nothing_starts(tmp_path):
    result = run(
        "fincast-train",
        "-m",
        "hydra/launcher=slurm",
        "training.epochs=1",
        cwd=tmp_path,
        timeout=120,
    )
    assert_one_line_error(
        result, "fincast-train", "SLURM's sbatch is not on PATH", "hydra/launcher=submitit_local"
    )
    assert list(tmp_path.iterdir()) == []  # no MLflow store, no sweep directory


# Runs a fincast command in a Python whose import system refuses one module, as if the
# package that provides it were not installed.
WITHOUT_MODULE = textwrap.dedent(
    """
    import sys

    class Refuse:
        def __init__(self, name):
            self.name = name

        def find_spec(self, name, path=None, target=None):
            if name == self.name or name.startswith(self.name + "."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    refused, module, command, *arguments = sys.argv[1:]
    sys.meta_path.insert(0, Refuse(refused))
    sys.argv = [command, *arguments]
    __import__(module, fromlist=["main"]).main()
    """
)


def run_without(refused: str, command: str, *arguments: str, cwd) -> subprocess.CompletedProcess:
    module = "fincast.cli." + command.removeprefix("fincast-")
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULE, refused, module, command, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("refused", "arguments", "named"),
    [
        (
            "hydra_plugins.hydra_joblib_launcher",
            ["-m", "hydra/launcher=local_parallel", "model=lstm,mlp"],
            ["hydra/launcher=local_parallel", "pip install 'fincast[sweeps]'"],
        ),
        (
            "hydra_plugins.hydra_optuna_sweeper",
            ["hparams_search=lstm_optuna"],
            ["hydra/sweeper=optuna", "pip install 'fincast[sweeps]'"],
        ),
        (
            "hydra_plugins.hydra_ray_launcher",
            ["-m", "hydra/launcher=ray_cluster", "model=lstm,mlp"],
            ["hydra/launcher=ray_cluster", "pip install 'fincast[ray]'"],
        ),
        (
            "hydra_plugins.hydra_submitit_launcher",
            ["-m", "hydra/launcher=submitit_local", "model=lstm,mlp"],
            ["hydra/launcher=submitit_local", "pip install 'fincast[sweeps]'"],
        ),
    ],
)
def test_a_missing_extra_names_its_install_line(tmp_path, refused, arguments, named):
    result = run_without(refused, "fincast-train", *arguments, cwd=tmp_path)
    assert_one_line_error(result, "fincast-train", *named)


# Tasks run by fincast's real Hydra app: two with a bug, one that opens a new MLflow store.
TASKS = textwrap.dedent(
    """
    import sys

    from fincast.cli.common import run_hydra_app


    def divides_by_zero(config):
        return 1 / 0


    def reads_a_key_that_is_not_there(config):
        return config.no_such_key


    def opens_a_new_store(config):
        import mlflow

        mlflow.MlflowClient("sqlite:///mlflow.db").search_experiments()


    sys.argv[0] = "fincast-train"
    run_hydra_app(globals()[sys.argv.pop(1)])
    """
)


def run_task(task: str, *overrides: str, cwd) -> subprocess.CompletedProcess[str]:
    script = cwd / "tasks.py"
    script.write_text(TASKS)
    environment = {key: value for key, value in os.environ.items() if key not in QUIETING}
    return subprocess.run(
        [sys.executable, str(script), task, *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


@pytest.mark.parametrize(
    ("task", "error"),
    [
        ("divides_by_zero", "ZeroDivisionError: division by zero"),
        ("reads_a_key_that_is_not_there", "ConfigAttributeError: Key 'no_such_key'"),
    ],
)
def test_a_bug_in_the_task_keeps_its_traceback_and_status_1(tmp_path, task, error):
    result = run_task(task, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback (most recent call last)" in result.stderr
    assert f"in {task}" in result.stderr
    assert error in result.stderr
    assert "fincast-train: error:" not in result.stderr


# What fincast itself writes on stderr during a training run: the backend line, its
# loggers' lines (Hydra's job logging format) and its one-line errors.
FINCAST_STDERR = re.compile(
    r"^(Backend: \w+ \(requested \w+\); devices: .+"
    r"|\[[\d\- :,]+\]\[fincast(\.\w+)*\]\[(DEBUG|INFO|WARNING|ERROR)\] - .+"
    r"|fincast-\w+: .+)$"
)


@pytest.mark.slow
def test_training_prints_only_fincast_lines_on_stderr(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key not in QUIETING}
    result = subprocess.run(
        [
            str(BIN / "fincast-train"),
            "training.epochs=1",
            "backend=jax",
            "data.tickers=[^GSPC]",
            "evaluation.test_days=60",
            "task.lookback=20",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "mlflow.db").is_file()  # a fresh store was created (and said nothing)
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("Backend: jax")
    assert [line for line in lines if not FINCAST_STDERR.match(line)] == []


@pytest.mark.parametrize(("overrides", "mlflow_lines"), [((), 0), (("hydra.verbose=mlflow",), 2)])
def test_mlflow_says_nothing_unless_hydra_verbose_asks(tmp_path, overrides, mlflow_lines):
    result = run_task("opens_a_new_store", *overrides, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "mlflow.db").is_file()
    said = [line for line in result.stderr.splitlines() if "INFO mlflow" in line]
    assert len(said) >= mlflow_lines
    if not mlflow_lines:
        assert result.stderr == ""
