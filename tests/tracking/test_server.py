"""fincast against a real MLflow server on 127.0.0.1: runs, registry, REST API, server loss."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from fincast_cli import run_cli as cli

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
TINY = ["backend=jax", "data.tickers=[^GSPC]", "task.lookback=20", "evaluation.test_days=60"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "server.log").open("wb"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise RuntimeError(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    process, url = start_server(tmp_path_factory.mktemp("mlflow-server"))
    yield url
    stop_server(process)


def rest(url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_train_and_forecast_through_the_server(server, tmp_path):
    result = cli(
        "fincast-train", *TINY, "training.epochs=2", f"tracking.uri={server}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "mlflow.db").exists()
    client = mlflow.MlflowClient(server, registry_uri=server)
    experiment = client.get_experiment_by_name("fincast")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["tracking.uri"] == server
    assert len(client.get_metric_history(run.info.run_id, "epoch_loss")) == 2
    assert {item.path for item in client.list_artifacts(run.info.run_id)} >= {
        "config",
        "evaluation",
    }
    searched = rest(server, "runs/search", {"experiment_ids": [experiment.experiment_id]})
    metrics = {metric["key"] for metric in searched["runs"][0]["data"]["metrics"]}
    assert {"test_mae", "test_naive_mae"} <= metrics
    version = client.get_model_version_by_alias("fincast-returns-lstm", "champion")
    assert version.run_id == run.info.run_id
    forecast = cli(
        "fincast-forecast", "backend=jax", "output=json", f"tracking.uri={server}", cwd=tmp_path
    )
    assert forecast.returncode == 0, forecast.stderr[-3000:]
    assert json.loads(forecast.stdout)["model_uri"] == "models:/fincast-returns-lstm@champion"


def test_server_lost_mid_run_keeps_the_model(tmp_path):
    process, url = start_server(tmp_path / "server")
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    trainer = subprocess.Popen(
        [
            str(BIN / "fincast-train"),
            *TINY,
            "training.epochs=40",
            "training.patience=0",
            f"tracking.uri={url}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert trainer.stdout is not None
    seen = []
    for line in trainer.stdout:
        seen.append(line)
        if line.startswith("Epoch 3/"):
            stop_server(process)
            break
    rest_of_output, errors = trainer.communicate(timeout=600)
    assert trainer.returncode == 0, errors[-3000:]
    assert "MLflow did not record" in errors
    assert "Epoch 40/40" in "".join(seen) + rest_of_output
    assert list((tmp_path / "models" / "fincast-returns-lstm").glob("*.keras"))


def test_multirun_groups_jobs_under_one_parent(server, tmp_path):
    result = cli(
        "fincast-train",
        "-m",
        *TINY,
        "model=lstm,mlp",
        "training.epochs=1",
        f"tracking.uri={server}",
        "tracking.experiment=sweep",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(server, registry_uri=server)
    runs = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(run.data.params["model.name"] for run in children) == ["lstm", "mlp"]
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parents[0].info.run_id}
