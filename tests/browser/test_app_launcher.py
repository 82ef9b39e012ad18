"""``fincast-app`` keeps the dashboard's security settings when started outside the checkout."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from app_server import wait_healthy
from browser_helpers import BIN, free_port


def serve(command: list[str], folder: Path) -> tuple[subprocess.Popen, str]:
    """Start ``command`` (plus a free loopback port) in ``folder``; the server and its URL."""
    port = free_port()
    env = {**os.environ, "FINCAST_TRACKING_URI": f"sqlite:///{folder}/mlflow.db"}
    env = {key: value for key, value in env.items() if not key.startswith("STREAMLIT_")}
    log = (folder / f"server-{port}.log").open("w")
    server = subprocess.Popen(
        [*command, "--server.port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, server)
    return server, url


def look(browser, url: str) -> tuple[int, set[str]]:
    """Deploy buttons on the page, and every host the page sent a request to."""
    page = browser.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page.goto(url)
    page.get_by_role("heading", name="Forecast").wait_for(timeout=120_000)
    time.sleep(3)  # the usage-statistics request goes out after the first render
    deploy = page.locator("[data-testid='stAppDeployButton']").count()
    page.close()
    return deploy, hosts


def test_fincast_app_from_another_folder_applies_the_settings(browser, tmp_path: Path) -> None:
    """From a folder with no .streamlit/: no Deploy button, no usage statistics sent.

    A plain ``streamlit run`` from the same folder is the control: it shows the Deploy
    button and calls Streamlit's statistics host, so the check can tell them apart.
    """
    script = Path(__file__).resolve().parents[2] / "app" / "Home.py"
    servers = []
    try:
        launched, launched_url = serve([str(BIN / "fincast-app")], tmp_path)
        servers.append(launched)
        plain, plain_url = serve(
            [str(BIN / "streamlit"), "run", str(script), "--server.headless", "true"], tmp_path
        )
        servers.append(plain)

        deploy, hosts = look(browser, launched_url)
        assert deploy == 0
        assert "data.streamlit.io" not in hosts, hosts
        assert launched_url.split("/")[2] in hosts

        control_deploy, control_hosts = look(browser, plain_url)
        assert control_deploy == 1 and "data.streamlit.io" in control_hosts
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)
