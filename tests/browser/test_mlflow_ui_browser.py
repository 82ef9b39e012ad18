"""`make ui` serves the MLflow UI on 127.0.0.1; a real browser finds the experiment and the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import ARTIFACTS, BIN, CHROMIUM, ROOT, free_port

from fincast_cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="module")
def ui_url(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    workdir = tmp_path_factory.mktemp("ui")
    trained = run_cli(
        "fincast-train",
        "backend=jax",
        "data.tickers=[^GSPC]",
        "task.lookback=20",
        "training.epochs=1",
        "evaluation.test_days=60",
        cwd=workdir,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    port = free_port()
    server = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "ui",
            f"UI_PORT={port}",
            f"TRACKING_DB={workdir / 'mlflow.db'}",
            f"VENV={BIN.parent}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_browser_finds_the_experiment_and_the_run(ui_url, page):
    # The UI keeps polling its server, so "networkidle" may never come: wait for the text.
    page.goto(f"{ui_url}/#/experiments", wait_until="domcontentloaded")
    page.get_by_text("fincast", exact=True).first.click(timeout=60_000)
    # MLflow 3 opens an experiment on its GenAI overview, and a first-visit overlay can
    # hide its tabs: open the experiment's training runs and the run by their addresses.
    experiment = api(ui_url, "experiments/get-by-name?experiment_name=fincast")["experiment"]
    page.goto(f"{ui_url}/#/experiments/{experiment['experiment_id']}/runs")
    page.get_by_text("lstm-jax").first.wait_for(timeout=60_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mlflow_ui_runs.png"), full_page=True)
    found = api(ui_url, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})
    run_id = found["runs"][0]["info"]["run_id"]
    page.goto(f"{ui_url}/#/experiments/{experiment['experiment_id']}/runs/{run_id}")
    page.get_by_text("test_mae").first.wait_for(timeout=60_000)


def api(ui_url: str, path: str, body: dict | None = None) -> dict:
    """One call to the MLflow REST API behind the UI (POST when ``body`` is given)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{ui_url}/api/2.0/mlflow/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))
