"""Run fincast's console scripts as a user would, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BIN = Path(sys.executable).parent


def run_cli(
    command: str,
    *overrides: str,
    cwd: Path,
    timeout: int = 600,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``command`` (e.g. ``fincast-train``) with Hydra ``overrides``, in ``cwd``.

    ``KERAS_BACKEND`` is dropped from the environment, so the backend comes from the
    config, as it does for a user.
    """
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env.update(extra_env or {})
    return subprocess.run(
        [str(BIN / command), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
