"""The launcher's settings: the same as the checkout's .streamlit/config.toml, passed as flags."""

from __future__ import annotations

import tomllib
from pathlib import Path

from fincast.dashboard import launch

ROOT = Path(__file__).resolve().parents[2]


def test_the_flags_are_the_checkouts_config_file() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    flat = {
        f"{section}.{key}": value for section, keys in config.items() for key, value in keys.items()
    }
    assert flat == launch.SETTINGS


def test_streamlit_args_run_the_app_with_every_setting_then_the_users_flags() -> None:
    args = launch.streamlit_args(["--server.port", "8600"])
    assert args[:2] == ["run", str(ROOT / "app" / "Home.py")]
    assert Path(args[1]).is_file()
    pairs = dict(zip(args[2:-2:2], args[3:-2:2], strict=True))
    assert pairs["--browser.gatherUsageStats"] == "false"
    assert pairs["--client.toolbarMode"] == "minimal"
    assert pairs["--server.maxUploadSize"] == "5"
    assert pairs["--server.enableXsrfProtection"] == "true"
    assert args[-2:] == ["--server.port", "8600"]
