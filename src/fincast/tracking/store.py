"""Where the MLflow store is, and whether it answers.

Every other tracking module reaches MLflow through :func:`connect` (which creates a
missing SQLite store) or :func:`open_store` (which never does). Creating or migrating
a local SQLite store, and creating an experiment in it, happen under a file lock
beside the database, so many fincast processes may start at once on a new store.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_URI = "sqlite:///mlflow.db"
LOCK_TIMEOUT_SECONDS = 300.0

logger = logging.getLogger(__name__)


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or does not hold what was asked for."""


def resolve_uri(uri: str | None, base_dir: Path | None = None) -> str:
    """Make a relative ``sqlite:///file.db`` URI absolute, under ``base_dir`` (default: cwd)."""
    uri = uri or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri.removeprefix(prefix))
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return f"{prefix}{path.resolve()}"
    return uri


def artifact_root_for(uri: str) -> str | None:
    """Where a local store keeps artifacts: ``mlartifacts/`` beside the SQLite file."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or ``None`` for any other store."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///"))
    return None


@contextmanager
def store_lock(uri: str, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold ``<database>.lock`` beside a local SQLite store; do nothing for other stores.

    MLflow creates and migrates a SQLite store on first use in each process; two
    processes doing so at once corrupt each other's migration. The lock is an OS file
    lock, so a process killed while holding it releases it. Where the lock file cannot
    be made (a read-only folder), nobody can create the store there either, and the
    block runs unlocked.

    Raises:
        TrackingError: another process held the lock for ``timeout`` seconds.
    """
    database = sqlite_path(uri)
    if database is None:
        yield
        return
    from filelock import FileLock, Timeout

    lock_path = database.with_name(f"{database.name}.lock")
    lock = FileLock(lock_path, timeout=timeout)
    acquired = False
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
        acquired = True
    except Timeout as error:  # before OSError: filelock's Timeout is a TimeoutError
        raise TrackingError(
            f"Another process held the lock {str(lock_path)!r} for {timeout:.0f} s while "
            "creating or migrating the MLflow store. Check for a hung fincast process."
        ) from error
    except OSError as error:
        logger.debug("Opening %s without a lock (%s)", database, error)
    try:
        yield
    finally:
        if acquired:
            lock.release()


def write_ahead_log_for_sqlite() -> None:
    """Open every SQLite connection of this process in WAL mode with ``synchronous=NORMAL``.

    SQLite's default (a rollback journal, ``synchronous=FULL``) syncs the disk several
    times per transaction: creating a new MLflow store (about 330 schema statements)
    took 1,184 ``fdatasync`` calls and a training run's records 88 more, which a busy
    disk turns into minutes. In WAL mode a commit appends to the log and syncs only at
    checkpoints; the database cannot be corrupted by a crash, and at worst the last
    commits before a power cut are lost. Readers (the MLflow UI, the dashboard) no
    longer block the writer. WAL needs a local disk, like the store itself.
    """
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def tune(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    if not event.contains(Engine, "connect", _TUNERS.get("sqlite", tune)):
        _TUNERS["sqlite"] = tune
        event.listen(Engine, "connect", tune)


_TUNERS: dict[str, Any] = {}


def checkpoint(uri: str) -> None:
    """Fold a local store's write-ahead log into ``mlflow.db`` (no-op for other stores).

    Called when a run ends, so the database file alone holds every finished run even
    while a reader (the MLflow UI, the dashboard) keeps the log open: a plain copy of
    ``mlflow.db`` is then complete. Never raises: a busy store folds it in later.
    """
    import sqlite3

    database = sqlite_path(uri)
    if database is None or not database.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(database, timeout=5)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as error:
        logger.debug("Could not checkpoint %s: %s", database, error)


def connect(uri: str) -> Any:
    """Point MLflow at ``uri`` and check that it answers; return an ``MlflowClient``.

    A local SQLite store is created or migrated here, under :func:`store_lock`, with
    both its tracking and its model registry tables: MLflow caches each store per
    process, so later calls never build them again.

    Raises:
        TrackingError: the store cannot be reached, with the URI and what to do.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if sqlite_path(uri) is not None:
        write_ahead_log_for_sqlite()
    try:
        with store_lock(uri):
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)  # builds the store
            client.search_experiments(max_results=1)
            if sqlite_path(uri) is not None:
                client.search_registered_models(max_results=1)
    except TrackingError:
        raise
    except Exception as error:  # MLflow raises many types for an unreachable store
        raise TrackingError(
            f"Cannot reach the MLflow tracking store at {uri!r} ({type(error).__name__}). "
            "Start the server, fix tracking.uri, or run with tracking=none."
        ) from error
    return client


def store_answers(uri: str, timeout: float = 3.0) -> bool:
    """Whether a tracking server answers its health check (local stores always do)."""
    if not uri.startswith(("http://", "https://")):
        return True
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    """The id of experiment ``name``, created (with a local artifact root) if missing.

    Two processes may both find no experiment and both create it; the loser reads the
    winner's. On a local store the check and the creation also run under :func:`store_lock`.
    """
    with store_lock(uri):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            return str(client.create_experiment(name, artifact_location=artifact_root_for(uri)))
        except Exception:  # MLflow's error for a name just taken differs by store
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)


def open_store(uri: str) -> Any:
    """An ``MlflowClient`` on an existing store (``connect`` would create a missing SQLite file).

    Raises:
        TrackingError: no SQLite file at the URI's path, or the server does not answer.
    """
    database = uri.removeprefix("sqlite:///")
    if database != uri and not Path(database).is_file():
        raise TrackingError(
            f"No MLflow store at {database!r} yet. Train a model with `make run` "
            "(or `fincast-train`), or set FINCAST_TRACKING_URI to your store."
        )
    return connect(uri)


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's own logging (download progress, warnings) inside the block."""
    previous = logging.getLogger("mlflow").level
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.getLogger("mlflow").setLevel(previous)
