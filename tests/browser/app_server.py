"""``streamlit run app/Home.py`` over a deployment, for browser tests with their own store."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from browser_helpers import ARTIFACTS, BIN, ROOT, Deployment


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``/_stcore/health`` until it answers ``ok`` (or the server dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout:.0f} s")


@contextmanager
def serve(deployment: Deployment, port: int, log_name: str = "streamlit-walk.log") -> Iterator[str]:
    """The app on 127.0.0.1:``port`` over ``deployment``; its log is kept as an artifact."""
    log_path = deployment.root / log_name
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                str(BIN / "streamlit"),
                "run",
                "app/Home.py",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
            ],
            cwd=ROOT,
            env=deployment.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(log_path, ARTIFACTS / log_name)
