"""Constants and the deployment description shared by the browser tests and their fixtures."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("FINCAST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
EVIL = "<img src=x onerror=alert(1)>"
BIN = Path(sys.executable).parent


@dataclass
class Deployment:
    """Where the trained model, its store and the app's folders are."""

    root: Path
    tracking_uri: str
    cache_dir: Path
    backtest_dir: Path

    def env(self) -> dict[str, str]:
        """The app's environment."""
        return {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "FINCAST_TRACKING_URI": self.tracking_uri,
            "FINCAST_MODEL_URI": "models:/fincast-returns-lstm@champion",
            "FINCAST_CACHE_DIR": str(self.cache_dir),
            "FINCAST_MODELS_DIR": str(self.root / "models"),
            "FINCAST_BACKTEST_DIR": str(self.backtest_dir),
            "FINCAST_MLFLOW_UI_URL": "http://127.0.0.1:5999",
        }


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
