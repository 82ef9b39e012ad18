"""Where a run's numbers came from: the git commit and the library versions, as run tags."""

from __future__ import annotations

import subprocess
from pathlib import Path


def source_tags() -> dict[str, str]:
    """MLflow's standard tags for a run: user, source name and type, and the code's git commit.

    MLflow's own context providers fill ``mlflow.user``, ``mlflow.source.name`` and
    ``mlflow.source.type``; the commit is that of fincast's code when it runs from a
    git checkout (an editable install), so the UI's Source, Version and User columns
    are filled.
    """
    from mlflow.tracking.context.registry import resolve_tags

    tags = dict(resolve_tags())
    commit = _git(["rev-parse", "HEAD"], Path(__file__).parent)
    if commit and "mlflow.source.git.commit" not in tags:
        tags["mlflow.source.git.commit"] = commit
    return tags


def _git(arguments: list[str], folder: Path) -> str | None:
    """The output of a git command in ``folder``, or None outside a checkout."""
    try:
        return subprocess.run(
            ["git", *arguments], capture_output=True, text=True, check=True, timeout=10, cwd=folder
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def git_tags() -> dict[str, str]:
    """The git commit and dirty flag of the working directory, if it is a checkout."""
    commit = _git(["rev-parse", "HEAD"], Path.cwd())
    if commit is None:
        return {}
    dirty = _git(["status", "--porcelain"], Path.cwd())
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
