"""Many fincast processes on one local store: a new store made at once, runs of dead processes.

Real ``fincast-train`` processes, a real SQLite store, a real SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import mlflow
import pytest

from fincast.tracking.liveness import (
    BOOT_TAG,
    END_REASON_TAG,
    HOST_TAG,
    PID_TAG,
    START_TAG,
    close_dead_runs,
    process_alive,
    process_start,
    process_tags,
)
from fincast.tracking.run_tracker import RunTracker
from fincast.tracking.store import connect, ensure_experiment, resolve_uri
from fincast_cli import BIN

QUICK = (
    "backend=jax",
    "data.tickers=[^GSPC]",
    "evaluation.test_days=60",
    "task.lookback=20",
)
MODEL_NAME = "fincast-returns-lstm"


def start_train(*overrides: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``fincast-train`` in ``cwd`` as a user would (backend from the config)."""
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(BIN / "fincast-train"), *QUICK, *overrides],
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )


def client_for(uri: str) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(uri, registry_uri=uri)


def exited_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.e2e
@pytest.mark.slow
def test_four_trainings_started_at_once_on_a_new_store_all_succeed(tmp_path):
    logs = [tmp_path / f"train-{number}.log" for number in range(4)]
    processes = [start_train("training.epochs=1", cwd=tmp_path, log=log) for log in logs]
    for process in processes:
        process.wait(timeout=600)
    outputs = [log.read_text(errors="replace") for log in logs]
    failed = [
        output[-3000:]
        for process, output in zip(processes, outputs, strict=True)
        if process.returncode
    ]
    assert not failed, failed[0]
    assert not [output for output in outputs if "did not record" in output]

    uri = resolve_uri("sqlite:///mlflow.db", tmp_path)
    client = client_for(uri)
    experiment = client.get_experiment_by_name("fincast")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.status for run in runs) == ["FINISHED"] * 4
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert sorted(int(version.version) for version in versions) == [1, 2, 3, 4]
    assert {version.run_id for version in versions} == {run.info.run_id for run in runs}
    model_files = {tmp_path / run.data.tags["model_file"] for run in runs}  # relative to cwd
    assert len(model_files) == 4
    assert all(file.is_file() for file in model_files)
    assert {file.parent.parent for file in model_files} == {tmp_path / "models"}
    assert (tmp_path / "mlflow.db.lock").exists()


def wait_for_running_run(
    uri: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 300
) -> str:
    """Poll the store until ``process``'s run is RUNNING; its run id."""
    deadline = time.monotonic() + timeout
    filter_string = f"attributes.status = 'RUNNING' and tags.`{PID_TAG}` = '{process.pid}'"
    client = connect(uri)  # under fincast's lock: the trainer may be creating the store
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        experiment = client.get_experiment_by_name("fincast")
        if experiment is not None:
            runs = client.search_runs([experiment.experiment_id], filter_string=filter_string)
            if runs:
                return str(runs[0].info.run_id)
        time.sleep(0.2)
    raise AssertionError(f"no RUNNING run of process {process.pid} within {timeout} s")


@pytest.mark.e2e
@pytest.mark.slow
def test_run_of_a_killed_training_is_ended_as_killed_by_the_next_writer(tmp_path):
    uri = resolve_uri("sqlite:///mlflow.db", tmp_path)
    log = tmp_path / "train.log"
    process = start_train("training.epochs=200", cwd=tmp_path, log=log)
    try:
        dead_run_id = wait_for_running_run(uri, process, log)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    client = client_for(uri)
    assert client.get_run(dead_run_id).info.status == "RUNNING"

    live = RunTracker(uri, "fincast", run_name="live")  # opens the store as fincast does
    dead = client.get_run(dead_run_id)
    assert dead.info.status == "KILLED" and dead.info.end_time is not None
    host = socket.gethostname()
    assert dead.data.tags[END_REASON_TAG] == (
        f"process {process.pid} on {host} ended without closing the run"
    )
    assert client.get_run(live.run_id).data.tags[HOST_TAG] == host

    RunTracker(uri, "fincast", run_name="next").finish()
    assert client.get_run(live.run_id).info.status == "RUNNING"  # this process is alive
    live.finish()
    assert client.get_run(live.run_id).info.status == "FINISHED"


def test_process_tags_name_this_process():
    tags = process_tags()
    assert tags[HOST_TAG] == socket.gethostname() and tags[PID_TAG] == str(os.getpid())
    assert process_alive(tags)
    if Path("/proc/self/stat").exists():
        assert tags[START_TAG] == process_start(os.getpid())


def test_an_exited_process_is_not_alive():
    pid = exited_pid()
    assert not process_alive(process_tags(pid))
    assert not process_alive({HOST_TAG: socket.gethostname(), PID_TAG: str(pid)})


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_process_of_an_earlier_boot_is_not_alive():
    assert not process_alive(process_tags() | {BOOT_TAG: "an-earlier-boot"})


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_reused_pid_is_not_the_process_that_started_the_run():
    tags = process_tags() | {START_TAG: str(int(process_start(os.getpid()) or 0) - 1)}
    assert not process_alive(tags)


def test_only_dead_runs_of_this_host_are_closed(tmp_path):
    uri = resolve_uri("sqlite:///mlflow.db", tmp_path)
    client = connect(uri)
    experiment_id = ensure_experiment(client, "fincast", uri)
    dead_pid = exited_pid()
    dead = client.create_run(experiment_id, tags=process_tags() | {PID_TAG: str(dead_pid)})
    other_host = client.create_run(
        experiment_id, tags={HOST_TAG: "elsewhere.example", PID_TAG: str(dead_pid)}
    )
    alive = client.create_run(experiment_id, tags=process_tags())
    untagged = client.create_run(experiment_id)
    finished = client.create_run(experiment_id, tags=process_tags() | {PID_TAG: str(dead_pid)})
    client.set_terminated(finished.info.run_id, status="FINISHED")

    assert close_dead_runs(client, experiment_id) == [dead.info.run_id]

    def status(run):
        return client.get_run(run.info.run_id).info.status

    assert status(dead) == "KILLED"
    assert [status(run) for run in (other_host, alive, untagged)] == ["RUNNING"] * 3
    assert status(finished) == "FINISHED"
    assert client.get_run(dead.info.run_id).data.tags[END_REASON_TAG] == (
        f"process {dead_pid} on {socket.gethostname()} ended without closing the run"
    )
    assert close_dead_runs(client, experiment_id) == []


def test_closing_dead_runs_never_raises():
    broken = mlflow.MlflowClient("http://127.0.0.1:9")
    assert close_dead_runs(broken, "0") == []
