"""Run a walk-forward's units as Ray tasks on an existing cluster (``evaluation.executor=ray``).

The driver (this process) joins the cluster at ``evaluation.ray.address`` first and
fails in one line if none answers, before any unit runs. Each model group's folds,
candidates and loss go into Ray's object store once, pickled; every unit of the group
is a task that gets that one object and the positions of its folds. A task fixes the
Keras backend before it unpickles anything (as the joblib workers do), then runs its
folds exactly as this process would, with the same seed and as many JAX CPU devices
(whatever the node's cores), so the forecasts equal a local run's.

Results come back to the driver in completion order; ``progress`` is called here, once
per fold, so whatever records them (the CLI's MLflow run) never sees a fold twice,
even when a task ran twice. A task whose worker process or node dies is rerun by Ray
(``evaluation.ray.max_retries``; an exception raised by the code is never retried: it
cancels the units still pending and reaches the caller as itself).
Every task first signs a ledger actor that lives on the driver's node, so the driver
can tell which units ran more than once, and where, and logs one line naming them.
"""

from __future__ import annotations

import logging
import pickle
import socket
import uuid
from collections.abc import Sequence
from typing import Any

from fincast.backend import active_host_devices
from fincast.evaluation.runner import (
    FoldResult,
    Loss,
    ModelGroup,
    Progress,
    active_backend,
    refit_positions,
    run_group,
)
from fincast.specs import RaySpec

log = logging.getLogger(__name__)
LEDGER_PREFIX = "fincast_ledger_"


class ClusterUnreachable(ValueError):
    """No Ray cluster answers at ``evaluation.ray.address``: a setting to fix, told in one line."""


class Ledger:
    """Where each unit's task started, attempt by attempt (a Ray actor on the driver's node)."""

    def __init__(self) -> None:
        self.starts: dict[str, list[str]] = {}

    def started(self, unit: str, node: str) -> None:
        """Record that ``unit`` started (again) on ``node``."""
        self.starts.setdefault(unit, []).append(node)

    def report(self) -> dict[str, list[str]]:
        """Unit -> the nodes its attempts started on, in order."""
        return self.starts


def connect(spec: RaySpec) -> bool:
    """Join the Ray cluster at ``spec.address`` unless this process already has; True if joined.

    Raises:
        ClusterUnreachable: nothing answers there (one line naming the address and what
            would work).
    """
    import ray

    if ray.is_initialized():
        return False
    if spec.address != "auto":
        _probe(spec.address, spec.connect_timeout_s)
    try:
        ray.init(address=spec.address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise ClusterUnreachable(_unreachable(spec.address, error)) from None
    return True


def _probe(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at ``host:port`` (``ray.init`` would wait long)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnreachable(
            "evaluation.ray.address must be auto or the head's host:port, e.g. "
            f"10.0.0.5:6379. Received: evaluation.ray.address={address}"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClusterUnreachable(_unreachable(address, error)) from None


def _unreachable(address: str, error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    reason = lines[0] if lines else type(error).__name__
    return (
        f"no Ray cluster answers at evaluation.ray.address={address} ({reason}); start one "
        "with `ray start --head` and pass the head's host:port, or use auto on a node of a "
        "running cluster"
    )


def run_on_ray(
    groups: Sequence[ModelGroup],
    loss: Loss,
    spec: RaySpec,
    progress: Progress | None = None,
) -> list[list[FoldResult]]:
    """Every group's fold results (sorted by fold), each unit one Ray task.

    Joins the cluster first (and leaves it after, if it joined it here).
    """
    import ray

    joined = connect(spec)
    try:
        return _run(groups, loss, spec, progress)
    finally:
        if joined:
            ray.shutdown()


def _run(
    groups: Sequence[ModelGroup], loss: Loss, spec: RaySpec, progress: Progress | None
) -> list[list[FoldResult]]:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    ledger: Any = (
        ray.remote(Ledger)
        .options(
            name=f"{LEDGER_PREFIX}{uuid.uuid4().hex}",  # named: a fault test finds a busy node
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        )
        .remote()
    )
    try:
        pending = _submit(groups, loss, spec, ledger)
        results = _collect(groups, pending, progress)
        log_reruns(ray.get(ledger.report.remote()), _node_addresses())
    finally:
        ray.kill(ledger)
    return [sorted(found, key=lambda result: result.index) for found in results]


def _submit(
    groups: Sequence[ModelGroup], loss: Loss, spec: RaySpec, ledger: Any
) -> dict[Any, tuple[int, str]]:
    """Put each group's payload into the object store once; one task per unit."""
    import ray

    task = ray.remote(run_unit).options(
        num_cpus=spec.num_cpus,
        num_gpus=spec.num_gpus,
        max_retries=spec.max_retries,
        retry_exceptions=False,
    )
    backend, host_devices = active_backend(), active_host_devices()
    pending: dict[Any, tuple[int, str]] = {}
    for number, group in enumerate(groups):
        payload = ray.put(pickle.dumps((group.folds, group.candidates, loss)))
        for positions in refit_positions(group.folds):
            name = unit_name(group, positions)
            unit = task.remote(backend, host_devices, payload, positions, name, ledger)
            pending[unit] = (number, name)
    return pending


def _collect(
    groups: Sequence[ModelGroup], pending: dict[Any, tuple[int, str]], progress: Progress | None
) -> list[list[FoldResult]]:
    """Each group's fold results, taken in completion order, ``progress`` called per fold."""
    import ray

    results: list[list[FoldResult]] = [[] for _ in groups]
    try:
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            number, name = pending.pop(done)
            for result in _unit_results(done, name):
                results[number].append(result)
                if progress is not None:
                    progress(groups[number].label, result, len(groups[number].folds))
    except BaseException:
        for unfinished in pending:  # a failed unit (or Ctrl-C) stops the rest on the cluster
            ray.cancel(unfinished, force=True)
        raise
    return results


def _unit_results(done: Any, name: str) -> list[FoldResult]:
    """The unit's results; an error raised in it is raised here as itself (one line)."""
    import ray
    from ray.exceptions import RayTaskError

    try:
        found: list[FoldResult] = ray.get(done)
    except RayTaskError as error:
        cause = error.cause
        if not isinstance(cause, Exception):
            raise
        cause.add_note(f"raised by the Ray task of unit {name}")
        raise cause from error
    return found


def unit_name(group: ModelGroup, positions: Sequence[int]) -> str:
    """``<label> fold 3`` or ``<label> folds 3-4`` (fold numbers from 1)."""
    first, last = (group.folds[position].index + 1 for position in (positions[0], positions[-1]))
    folds = f"fold {first}" if first == last else f"folds {first}-{last}"
    return f"{group.label} {folds}"


def run_unit(
    backend: str,
    host_devices: int,
    payload: bytes,
    positions: list[int],
    name: str,
    ledger: Any,
) -> list[FoldResult]:
    """Task body: sign the ledger, fix the backend (and JAX's CPU devices, as the
    driver's) BEFORE unpickling, run the unit's folds."""
    import ray

    from fincast.backend import select_backend

    ray.get(ledger.started.remote(name, ray.get_runtime_context().get_node_id()))
    select_backend(backend, host_devices)
    folds, candidates, loss = pickle.loads(payload)  # noqa: S301 (our own payload)
    return run_group([folds[position] for position in positions], candidates, loss)


def _node_addresses() -> dict[str, str]:
    import ray

    return {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes()}


def log_reruns(starts: dict[str, list[str]], addresses: dict[str, str]) -> list[str]:
    """Log one line naming the units that started more than once, and where; return them.

    >>> log_reruns({"AAPL fold 1": ["n1"], "MSFT fold 2": ["n2", "n1"]}, {"n1": "10.0.0.1"})
    ['MSFT fold 2']
    """
    reran = {unit: nodes for unit, nodes in starts.items() if len(nodes) > 1}
    if reran:
        where = "; ".join(
            f"{unit} ({' then '.join(_node(node, addresses) for node in nodes)})"
            for unit, nodes in reran.items()
        )
        log.warning("ray: %d unit(s) ran again after a lost worker or node: %s", len(reran), where)
    return list(reran)


def _node(node: str, addresses: dict[str, str]) -> str:
    return f"node {node[:8]} at {addresses.get(node, 'an unknown address')}"
