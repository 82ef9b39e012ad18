"""Find a registered model in a local SQLite store without starting MLflow.

Importing MLflow and opening its store take seconds, most of a forecast's start-up
beside Keras. For the common case, ``models:/<name>@<alias>`` or
``models:/<name>/<version>`` in a local ``sqlite:///`` store whose artifacts are local
files, :func:`find_local_model` reads the two registry rows it needs (read-only) and
returns the logged model's folder. Anything else (another store, a ``models:/m-...``
id, ``latest``, an MLflow workspace, a schema it does not know, a missing row or file)
returns ``None``, and the caller asks MLflow, which gives the same answer or its own
error.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from fincast.tracking.store import sqlite_path

_BY_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
_BY_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
DEFAULT_WORKSPACE = "default"


def find_local_model(model_uri: str, tracking_uri: str) -> Path | None:
    """The local folder MLflow keeps ``model_uri``'s artifacts in, or ``None`` (see module)."""
    database = sqlite_path(tracking_uri)
    by_alias, by_version = _BY_ALIAS.match(model_uri), _BY_VERSION.match(model_uri)
    if database is None or not database.is_file() or not (by_alias or by_version):
        return None
    if os.environ.get("MLFLOW_WORKSPACE") or os.environ.get("MLFLOW_ENABLE_WORKSPACES"):
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            if by_alias:
                name = by_alias["name"]
                row = db.execute(
                    "SELECT version FROM registered_model_aliases "
                    "WHERE name = ? AND alias = ? AND workspace = ?",
                    (name, by_alias["alias"], DEFAULT_WORKSPACE),
                ).fetchone()
                version = row[0] if row else None
            else:
                name, version = by_version["name"], int(by_version["version"])  # type: ignore[index]
            location = db.execute(
                "SELECT storage_location FROM model_versions "
                "WHERE name = ? AND version = ? AND workspace = ? AND status = 'READY'",
                (name, version, DEFAULT_WORKSPACE),
            ).fetchone()
    except sqlite3.Error:  # locked, another schema: MLflow knows
        return None
    return _local_folder(location[0] if location else None)


def _local_folder(location: str | None) -> Path | None:
    """The folder of a ``file://`` artifact location that holds a fincast model, else None."""
    parsed = urlparse(location or "")
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    folder = Path(unquote(parsed.path))
    has_model = (folder / "MLmodel").is_file() and (folder / "data" / "model.keras").is_file()
    return folder if has_model else None
