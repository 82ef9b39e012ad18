"""Run a command in a private network namespace where only loopback exists.

Ray binds the host's non-loopback address by default; inside ``unshare -n`` (with ``lo``
brought up) there is no other interface, so every Ray process, and any traffic at all,
stays on 127.0.0.1.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess


def namespace_problem() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'fincast[ray]')"
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found (util-linux, iproute2)"
    check = subprocess.run(
        ["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, text=True
    )
    if check.returncode != 0:
        return f"cannot make a private network namespace: {check.stderr.strip()[:200]}"
    return None


def loopback_only(command: list[str], addresses_file: str | None = None) -> list[str]:
    """``command`` run in a new network namespace with ``lo`` up; with ``addresses_file``,
    the namespace's IPv4 addresses (``ip -o -4 addr``) are written there first."""
    record = f"ip -o -4 addr show > {shlex.quote(addresses_file)} && " if addresses_file else ""
    script = f"ip link set lo up && {record}exec {shlex.join(command)}"
    return ["unshare", "-n", "bash", "-c", script]
