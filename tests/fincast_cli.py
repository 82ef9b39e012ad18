"""Run fincast's console scripts as a user would, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

BIN = Path(sys.executable).parent


def run_cli(
    command: str,
    *overrides: str,
    cwd: Path,
    timeout: int = 600,
    extra_env: Mapping[str, str] | None = None,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``command`` (e.g. ``fincast-train``) with Hydra ``overrides``, in ``cwd``.

    ``KERAS_BACKEND`` is dropped from the environment, so the backend comes from the
    config, as it does for a user. ``wrap`` rewrites the command line (e.g. to run it
    in a private network namespace: :func:`loopback.loopback_only`).
    """
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env.update(extra_env or {})
    line = [str(BIN / command), *overrides]
    return subprocess.run(
        line if wrap is None else wrap(line),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
