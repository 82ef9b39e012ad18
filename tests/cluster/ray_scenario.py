"""A walk-forward on a real three-node Ray cluster on loopback, against a local run.

Run by tests/cluster/test_ray_cluster.py inside a private network namespace, where
loopback is the only address Ray can pick (``unshare -n``, then ``ip link set lo up``):

    python tests/cluster/ray_scenario.py equal|fault OUTPUT.json

It starts a head (no CPUs for tasks: the driver and the ledger live there) and two
worker nodes of one CPU each with ``ray.cluster_utils.Cluster``, checks every node's
address is 127.0.0.1, backtests three tickers of the bundled stocknet panel over two
folds with ``evaluation.executor=local`` and ``evaluation.executor=ray``, and writes
what it found as JSON. ``fault`` removes one worker node when the first fold result
comes back, while units are still running on it. ``equal`` then runs
``fincast-backtest`` against the cluster, recording to a fresh MLflow store, as a user
points it at a cluster (``evaluation.ray.address``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: jobs.make_job

import numpy as np
import ray
from ray.cluster_utils import Cluster

from fincast.data.loading import load_bars
from fincast.evaluation.report import build_report
from fincast.evaluation.trading import Strategy
from fincast.evaluation.walkforward import backtest_panel
from fincast.specs import JobSpec, RaySpec
from jobs import make_job

TICKERS = ["AAPL", "MSFT", "GOOG"]
LOOPBACK = "127.0.0.1"
# notice a removed node within a few seconds (defaults: tens of seconds)
FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}


def tiny_job(pooling: str) -> JobSpec:
    return make_job(
        model="lstm",
        units=4,
        tickers=TICKERS,
        source="stocknet",
        pooling=pooling,
        lookback=10,
        horizon=3,
        folds=2,
        step=60,
        min_train_windows=100,
        epochs=2,
        patience=0,
        seed=3,
        verbose=0,
        baselines=["naive", "historical_mean"],
    )


def on_executor(job: JobSpec, executor: str, address: str = "auto") -> JobSpec:
    evaluation = dataclasses.replace(
        job.evaluation, executor=executor, ray=RaySpec(address=address, max_retries=3)
    )
    return dataclasses.replace(job, evaluation=evaluation)


def start_cluster() -> tuple[Cluster, list]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "_system_config": FAST_HEALTH_CHECKS,
        },
    )
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    return cluster, workers


def compare(local: dict, remote: dict) -> dict[str, float | bool]:
    """Whether every forecast is bit for bit equal, and the largest difference."""
    largest, identical = 0.0, True
    for ticker, backtest in local.items():
        for name, forecast in backtest.forecasts.items():
            other = remote[ticker].forecasts[name]
            identical = identical and np.array_equal(forecast, other)
            largest = max(largest, float(np.max(np.abs(forecast - other))))
    return {"identical": identical, "largest_difference": largest}


def complete(backtests: dict) -> bool:
    """Every ticker has both folds, finite forecasts, and a full report."""
    for backtest in backtests.values():
        if sorted(set(backtest.fold.tolist())) != [0, 1]:
            return False
        if not all(np.isfinite(values).all() for values in backtest.forecasts.values()):
            return False
        build_report(backtest, Strategy())
    return len(backtests) == len(TICKERS)


class Remember(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def busy_worker(workers: list, finished: list[str]):
    """A worker node running a unit now, from the executor's ledger (else ``workers[1]``).

    Removing a node between two of its tasks would rerun nothing: the fault test needs
    one that is mid-task.
    """
    from fincast.evaluation.ray_executor import LEDGER_PREFIX

    name = next(name for name in ray.util.list_named_actors() if name.startswith(LEDGER_PREFIX))
    starts = ray.get(ray.get_actor(name).report.remote())
    running = {nodes[-1] for unit, nodes in starts.items() if unit not in finished}
    return next((node for node in workers[::-1] if node.node_id in running), workers[1])


def backtest_both_ways(
    bars: dict, job: JobSpec, cluster: Cluster, workers: list, found: dict
) -> None:
    """Backtest ``job`` locally, then on the cluster (``fault``: losing a worker node)."""
    pooling = job.training.pooling
    began = time.perf_counter()
    local = backtest_panel(bars, on_executor(job, "local"))
    found[f"{pooling}_local_s"] = time.perf_counter() - began
    seen: list[str] = []

    def progress(label: str, result, total: int) -> None:
        seen.append(f"{label} fold {result.index + 1}")
        if found["mode"] == "fault" and len(seen) == 1:
            cluster.remove_node(busy_worker(workers, seen), allow_graceful=False)
            found["removed_after"] = seen[0]

    began = time.perf_counter()
    remote = backtest_panel(bars, on_executor(job, "ray", cluster.address), progress=progress)
    found[f"{pooling}_ray_s"] = time.perf_counter() - began
    found[pooling] = compare(local, remote)
    found[f"{pooling}_complete"] = complete(remote)
    found[f"{pooling}_progress"] = sorted(seen)


def failing_unit(bars: dict, address: str) -> dict:
    """A unit that raises (a model Keras refuses to build): raised as itself, never retried."""
    job = tiny_job("per_ticker")
    builder = {**job.model.builder, "units": -1}
    job = dataclasses.replace(job, model=dataclasses.replace(job.model, builder=builder))
    began = time.perf_counter()
    try:
        backtest_panel(bars, on_executor(job, "ray", address))
    except ValueError as error:
        return {
            "type": type(error).__name__,
            "message": str(error),
            "notes": getattr(error, "__notes__", []),
            "seconds": time.perf_counter() - began,
        }
    return {"type": None}


def backtest_command(address: str) -> dict:
    """``fincast-backtest`` on the cluster; what its MLflow run holds."""
    import mlflow

    workdir = Path(tempfile.mkdtemp(prefix="fincast-ray-cli-"))
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    overrides = [
        "evaluation=walkforward",
        "data=stocknet",
        "data.tickers=[AAPL,MSFT]",
        "training.pooling=per_ticker",
        "backend=jax",
        "model.builder.units=4",
        "task.lookback=10",
        "task.horizon=3",
        "training.epochs=1",
        "evaluation.folds=2",
        "evaluation.step=60",
        "evaluation.plots=false",
        "evaluation.executor=ray",
        f"evaluation.ray.address={address}",
        f"tracking.uri={store}",
    ]
    command = Path(sys.executable).with_name("fincast-backtest")
    done = subprocess.run(
        [str(command), *overrides], cwd=workdir, capture_output=True, text=True, timeout=400
    )
    found: dict = {"returncode": done.returncode, "stderr_tail": done.stderr[-2000:]}
    found["fold_lines"] = sorted(line for line in done.stderr.splitlines() if " fold " in line)
    if done.returncode == 0:
        client = mlflow.MlflowClient(store)
        runs = client.search_runs([exp.experiment_id for exp in client.search_experiments()])
        found["runs"] = [run.info.status for run in runs]
        found["metrics"] = sorted(runs[0].data.metrics)
        found["fold_rows"] = {}
        for ticker in ("AAPL", "MSFT"):
            table = client.download_artifacts(runs[0].info.run_id, f"backtest/{ticker}/folds.csv")
            found["fold_rows"][ticker] = len(Path(table).read_text().strip().splitlines()) - 1
    return found


def main(mode: str, output: Path) -> None:
    bars = load_bars("stocknet", TICKERS)
    log = Remember()
    logging.getLogger("fincast.evaluation.ray_executor").addHandler(log)
    cluster, workers = start_cluster()
    found: dict = {"mode": mode, "head": cluster.address}
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        found["nodes"] = sorted(node["NodeManagerAddress"] for node in ray.nodes())
        assert cluster.address.startswith(f"{LOOPBACK}:"), cluster.address
        assert found["nodes"] == [LOOPBACK] * 3, found["nodes"]
        pools = ["per_ticker", "pooled"] if mode == "equal" else ["per_ticker"]
        for pooling in pools:
            backtest_both_ways(bars, tiny_job(pooling), cluster, workers, found)
        found["alive_nodes"] = sum(node["Alive"] for node in ray.nodes())
        found["log"] = log.lines
        if mode == "equal":
            found["error"] = failing_unit(bars, cluster.address)
            found["cli"] = backtest_command(cluster.address)
    finally:
        ray.shutdown()
        cluster.shutdown()
    output.write_text(json.dumps(found, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
