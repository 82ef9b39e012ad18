"""``evaluation.executor=ray`` on a real multi-node cluster: a head and two worker nodes.

Each test runs tests/cluster/ray_scenario.py in a private network namespace
(``unshare -n``, loopback up) so Ray can only bind 127.0.0.1; the scenario asserts every
node's address is loopback. The cluster is ``ray.cluster_utils.Cluster`` (one CPU per
worker node, none on the head) and the backtest three tickers of the bundled stocknet
panel over two folds, with a tiny LSTM. Skipped, with the reason, where a private
network namespace cannot be made (not root, no ``unshare``/``ip``) or Ray is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopback import namespace_problem

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SCENARIO = Path(__file__).with_name("ray_scenario.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    problem = namespace_problem()
    if problem is not None:
        pytest.skip(f"Ray cluster tests need a loopback-only network namespace: {problem}")

    def run(mode: str) -> dict:
        output = tmp_path_factory.mktemp(mode) / "found.json"
        command = f"ip link set lo up && exec {sys.executable} {SCENARIO} {mode} {output}"
        env = {**os.environ, "KERAS_BACKEND": "jax", "RAY_ADDRESS": ""}
        done = subprocess.run(
            ["unshare", "-n", "bash", "-c", command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(output.read_text())

    return run


def test_a_three_node_loopback_cluster_gives_the_local_forecasts(scenario) -> None:
    found = scenario("equal")
    assert found["head"].startswith("127.0.0.1:")
    assert found["nodes"] == ["127.0.0.1"] * 3
    # bit for bit (same seed, same backend, the same fit in another process)
    for pooling in ("per_ticker", "pooled"):
        assert found[pooling] == {"identical": True, "largest_difference": 0.0}, pooling
        assert found[f"{pooling}_complete"], pooling
    # per-ticker models: one unit per fold x ticker; a global model: one per fold
    assert found["per_ticker_progress"] == [
        f"{ticker} fold {fold}" for ticker in ("AAPL", "GOOG", "MSFT") for fold in (1, 2)
    ]
    assert found["pooled_progress"] == ["pooled (3 tickers) fold 1", "pooled (3 tickers) fold 2"]
    assert found["log"] == []
    # a unit that raises: the error itself, in one line, naming the unit; not retried
    error = found["error"]
    assert error["type"] == "ValueError"
    assert error["message"] == "units must be a positive integer. Received: units=-1"
    assert error["notes"][0].startswith("raised by the Ray task of unit ")
    # fincast-backtest pointed at the cluster: one MLflow run, recorded by the driver once
    cli = found["cli"]
    assert cli["returncode"] == 0, cli["stderr_tail"]
    assert len(cli["fold_lines"]) == 4 and len(set(cli["fold_lines"])) == 4
    assert cli["runs"] == ["FINISHED"]
    assert {"wf_AAPL_model_mse", "wf_MSFT_naive_mse"} <= set(cli["metrics"])
    assert cli["fold_rows"] == {"AAPL": 2, "MSFT": 2}


def test_a_worker_node_lost_mid_run_loses_nothing(scenario) -> None:
    found = scenario("fault")
    assert found["nodes"] == ["127.0.0.1"] * 3
    assert found["alive_nodes"] == 2
    assert found["per_ticker_complete"]
    assert found["per_ticker"] == {"identical": True, "largest_difference": 0.0}
    assert len(found["per_ticker_progress"]) == 6  # each fold reported once
    (line,) = found["log"]
    assert line.startswith("ray: ") and "ran again after a lost worker or node: " in line
    assert "at 127.0.0.1 then node " in line
