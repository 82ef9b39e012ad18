"""The same universe backtest in this process and on a Ray cluster of 1 and 2 worker nodes.

Issue 18 item 6. A per-ticker walk-forward of ``--tickers`` stocks of the bundled
stocknet panel over ``--folds`` folds (one unit per fold x ticker: a tiny LSTM refitted,
plus the naive and historical-mean baselines) runs with ``evaluation.executor=local``
and with ``evaluation.executor=ray`` on ``ray.cluster_utils.Cluster`` clusters of one
and two worker nodes (one CPU each; the head runs the driver and no tasks), all in one
run, so the ratios compare like with like. Every process is capped at one thread
(``_harness.thread_environment``), so one unit uses one core wherever it runs.

The clusters bind loopback only: the script re-runs itself in a private network
namespace (``unshare -n``, loopback up; needs root) and checks every node's address is
127.0.0.1. Each contender runs ``--repeats`` times; the first run of a fresh cluster is
*cold* (its worker processes start and import Keras), the others *warm*. Every fold's
forecasts must equal the local run's. Per unit it records the seconds measured inside
the unit (``FoldResult.seconds``). After the model runs, each cluster runs overhead
probes: the same backtest without the model (baselines only: milliseconds of work per
unit), for one unit and for all of them, three times each. The cost model
``T(N) = c + ceil(U/N) (t + o)`` takes ``c`` and ``o`` from the 1-node probes and ``t``
from the 1-node model runs, and is checked against the measured 1- and 2-node times.

    .venv/bin/python benchmarks/ray_scaling.py            # ~6 min -> results/ray_scaling.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, markdown_table, thread_environment, write_results

from fincast.specs import (
    DataSpec,
    EvaluationSpec,
    FeaturesSpec,
    FitSpec,
    JobSpec,
    ModelSpec,
    RaySpec,
    TaskSpec,
)

NAMESPACE_FLAG = "FINCAST_RAY_SCALING_IN_NAMESPACE"
TICKERS = ["AAPL", "MSFT", "GOOG", "INTC", "CSCO", "ORCL"]
LOOPBACK = "127.0.0.1"


def in_private_namespace(arguments: list[str]) -> int:
    """Re-run this script inside ``unshare -n`` with loopback up (Ray then binds 127.0.0.1)."""
    command = " ".join(shlex.quote(part) for part in [sys.executable, __file__, *arguments])
    environment = {**os.environ, **thread_environment(1), NAMESPACE_FLAG: "1"}
    environment.setdefault("KERAS_BACKEND", "jax")
    namespace = ["unshare", "-n", "bash", "-c", f"ip link set lo up && exec {command}"]
    return subprocess.run(namespace, env=environment, check=False).returncode


def job_for(tickers: list[str], folds: int, epochs: int) -> JobSpec:
    builder = {"_target_": "fincast.models.builders.build_lstm", "units": 8}
    return JobSpec(
        data=DataSpec(source="stocknet", tickers=tickers),
        features=FeaturesSpec(),
        task=TaskSpec(lookback=20, horizon=3),
        model=ModelSpec(name="lstm", builder=builder),
        training=FitSpec(pooling="per_ticker", epochs=epochs, patience=0, verbose=0),
        evaluation=EvaluationSpec(
            name="walkforward",
            folds=folds,
            step=120,
            min_train_windows=250,
            baselines=["naive", "historical_mean"],
        ),
        seed=7,
    )


def timed_backtest(
    bars: dict, job: JobSpec, executor: str, address: str = "auto", *, with_model: bool = True
) -> dict[str, Any]:
    from fincast.evaluation.walkforward import backtest_panel

    evaluation = dataclasses.replace(
        job.evaluation, executor=executor, ray=RaySpec(address=address)
    )
    units: list[float] = []
    began = time.perf_counter()
    backtests = backtest_panel(
        bars,
        dataclasses.replace(job, evaluation=evaluation),
        with_model=with_model,
        progress=lambda _label, result, _total: units.append(result.seconds),
    )
    return {"wall_s": time.perf_counter() - began, "unit_s": units, "backtests": backtests}


def same_forecasts(one: dict, other: dict) -> bool:
    import numpy as np

    return all(
        np.array_equal(backtest.forecasts[name], other[ticker].forecasts[name])
        for ticker, backtest in one.items()
        for name in backtest.forecasts
    )


def on_cluster(
    nodes: int, bars: dict, job: JobSpec, repeats: int, reference: dict
) -> tuple[list[dict], dict[str, list[float]]]:
    """The model runs on a fresh cluster of ``nodes`` worker nodes, then the overhead probes."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        addresses = {node["NodeManagerAddress"] for node in ray.nodes()}
        if addresses != {LOOPBACK} or not cluster.address.startswith(f"{LOOPBACK}:"):
            raise SystemExit(f"not loopback only: {cluster.address}, nodes at {addresses}")
        runs = []
        for _ in range(repeats):
            run = timed_backtest(bars, job, "ray", cluster.address)
            run["equal_to_local"] = same_forecasts(run.pop("backtests"), reference)
            runs.append(run)
        return runs, overhead_probes(bars, job, cluster.address)
    finally:
        ray.shutdown()
        cluster.shutdown()


def overhead_probes(bars: dict, job: JobSpec, address: str, rounds: int = 3) -> dict:
    """Wall times of the same units without the model (baselines: milliseconds of work).

    ``one_unit_s``: one ticker, one fold (one task); ``all_units_s``: every unit.
    """
    first = job.data.tickers[:1]
    single = dataclasses.replace(
        job,
        data=dataclasses.replace(job.data, tickers=first),
        evaluation=dataclasses.replace(job.evaluation, folds=1),
    )
    found: dict[str, list[float]] = {"one_unit_s": [], "all_units_s": [], "probe_unit_s": []}
    for _ in range(rounds):
        one = timed_backtest({first[0]: bars[first[0]]}, single, "ray", address, with_model=False)
        every = timed_backtest(bars, job, "ray", address, with_model=False)
        found["one_unit_s"].append(round(one["wall_s"], 3))
        found["all_units_s"].append(round(every["wall_s"], 3))
        found["probe_unit_s"] += every["unit_s"]
    return found


def summary(name: str, runs: list[dict], cold_first: bool) -> dict[str, Any]:
    warm = runs[1:] if cold_first and len(runs) > 1 else runs
    units = [seconds for run in warm for seconds in run["unit_s"]]
    return {
        "contender": name,
        "runs_wall_s": [round(run["wall_s"], 2) for run in runs],
        "cold_wall_s": round(runs[0]["wall_s"], 2) if cold_first else None,
        "warm_wall_s": round(statistics.median(run["wall_s"] for run in warm), 2),
        "units": len(runs[0]["unit_s"]),
        "unit_s_mean": round(statistics.fmean(units), 3),
        "equal_to_local": all(run.get("equal_to_local", True) for run in runs),
    }


def cost_model(local: dict, one: dict, probes: dict, measured: dict[int, float]) -> dict:
    """``T(N) = c + ceil(U/N) (t + o)`` from the 1-node overhead probes and the unit time.

    ``c + o + t_b`` is the one-unit probe; ``o + t_b`` the slope from one unit to all ``U``
    on one node (``t_b``: the baselines' own time, measured inside the tasks); ``t`` the
    model unit's time measured inside the tasks of the 1-node model runs.
    """
    count = one["units"]
    single = statistics.median(probes["one_unit_s"])
    every = statistics.median(probes["all_units_s"])
    baselines = statistics.fmean(probes["probe_unit_s"])
    slope = (every - single) / (count - 1)
    overhead = slope - baselines
    constant = single - slope
    unit = one["unit_s_mean"]

    def predicted(nodes: int) -> float:
        return constant + -(-count // nodes) * (unit + overhead)

    return {
        "units": count,
        "unit_s_local": local["unit_s_mean"],
        "unit_s_on_ray": unit,
        "overhead_per_task_s": round(overhead, 3),
        "constant_per_run_s": round(constant, 2),
        "predicted_wall_s": {nodes: round(predicted(nodes), 1) for nodes in (1, 2, 4, 8, 12)},
        "measured_warm_wall_s": measured,
        "local_warm_wall_s": local["warm_wall_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickers", nargs="+", default=TICKERS)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", default="ray_scaling")
    arguments = parser.parse_args()
    if os.environ.get(NAMESPACE_FLAG) != "1":
        sys.exit(in_private_namespace(sys.argv[1:]))
    from fincast.backend import select_backend

    select_backend(os.environ.get("KERAS_BACKEND", "jax"))
    from fincast.data.loading import load_bars

    bars = load_bars("stocknet", arguments.tickers)
    job = job_for(arguments.tickers, arguments.folds, arguments.epochs)
    info = machine_info(1)
    local_runs = [timed_backtest(bars, job, "local") for _ in range(arguments.repeats)]
    reference = local_runs[0].pop("backtests")
    for run in local_runs[1:]:
        run["equal_to_local"] = same_forecasts(run.pop("backtests"), reference)
    rows = [summary("local (this process)", local_runs, cold_first=False)]
    probes: dict[int, dict] = {}
    for nodes in (1, 2):
        runs, probes[nodes] = on_cluster(nodes, bars, job, arguments.repeats, reference)
        rows.append(summary(f"ray, {nodes} worker node{'s' * (nodes > 1)}", runs, True))
    local, one, two = rows
    for row in rows:
        row["local_over_this_warm"] = round(local["warm_wall_s"] / row["warm_wall_s"], 2)
    measured = {1: one["warm_wall_s"], 2: two["warm_wall_s"]}
    model = cost_model(local, one, probes[1], measured)
    payload = {
        "machine": info,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "settings": vars(arguments) | {"pooling": "per_ticker", "backend": "jax"},
        "contenders": rows,
        "overhead_probes": probes,
        "cost_model": model,
    }
    path = write_results(arguments.output, payload)
    header = ["contender", "cold s", "warm s", "units", "unit s", "local / this", "equal"]
    print(
        markdown_table(
            header,
            [
                [
                    row["contender"],
                    row["cold_wall_s"] or "",
                    row["warm_wall_s"],
                    row["units"],
                    row["unit_s_mean"],
                    row["local_over_this_warm"],
                    row["equal_to_local"],
                ]
                for row in rows
            ],
        )
    )
    print(model)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
