"""Where a run's numbers came from: the git commit and the library versions, as run tags."""

from __future__ import annotations

import subprocess


def git_tags() -> dict[str, str]:
    """The git commit and dirty flag of the working directory, if it is a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a run's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("fincast", "keras", "jax", "tensorflow", "torch", "numpy", "pandas", "mlflow"):
        try:
            versions[f"version_{package}"] = version(package)
        except PackageNotFoundError:
            continue
    return versions
