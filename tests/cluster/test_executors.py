"""``evaluation.executor=local|joblib|ray``: the settings, the same forecasts, and the
one-line refusal of a Ray cluster that does not answer (no cluster is started here;
tests/cluster/test_ray_cluster.py starts real ones on loopback)."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from fincast.cli.common import job_spec
from fincast.cli.schema import register_schemas
from fincast.data.loading import load_bars
from fincast.evaluation.executors import run_groups
from fincast.evaluation.runner import refit_positions
from fincast.evaluation.walkforward import backtest_panel
from fincast.paths import config_dir
from fincast.specs import EvaluationSpec, IntervalSpec, JobSpec, RaySpec, TaskSpec
from jobs import make_job

TICKER = "^GSPC"


def tiny_job(**changes) -> JobSpec:
    settings = {
        "model": "lstm",
        "units": 4,
        "tickers": [TICKER],
        "lookback": 10,
        "horizon": 3,
        "folds": 3,
        "step": 60,
        "min_train_windows": 100,
        "epochs": 1,
        "patience": 0,
        "seed": 3,
        "verbose": 0,
        "baselines": ["naive", "historical_mean"],
    }
    return make_job(**{**settings, **changes})


def with_evaluation(job: JobSpec, **changes) -> JobSpec:
    return dataclasses.replace(job, evaluation=dataclasses.replace(job.evaluation, **changes))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"executor": "dask"}, "evaluation.executor must be one of local, joblib, ray"),
        ({"executor": "local", "n_jobs": 2}, "evaluation.executor=local runs every fold in this"),
    ],
)
def test_bad_executor_settings_are_refused(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        EvaluationSpec(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_retries": -1}, "evaluation.ray.max_retries must be >= 0"),
        ({"num_gpus": -1}, "evaluation.ray.num_gpus must be >= 0"),
        ({"connect_timeout_s": 0}, "evaluation.ray.connect_timeout_s must be > 0"),
        ({"address": " "}, "evaluation.ray.address must be auto or the head's host:port"),
    ],
)
def test_bad_ray_settings_are_refused(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        RaySpec(**changes)


def test_aci_is_refused_on_ray_in_one_line() -> None:
    with pytest.raises(ValueError, match="set evaluation.executor=local") as refused:
        JobSpec(
            task=TaskSpec(intervals=IntervalSpec(method="aci")),
            evaluation=EvaluationSpec(executor="ray"),
        )
    assert "\n" not in str(refused.value)


def test_the_config_sets_executor_and_ray_settings() -> None:
    register_schemas()
    overrides = [
        "evaluation=walkforward",
        "evaluation.executor=ray",
        "evaluation.ray.address=10.0.0.5:6379",
        "evaluation.ray.num_gpus=1",
    ]
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        job = job_spec(compose(config_name="config", overrides=overrides), "test")
    assert job.evaluation.executor == "ray"
    assert job.evaluation.ray == RaySpec(address="10.0.0.5:6379", num_gpus=1.0)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        default = job_spec(compose(config_name="config", overrides=overrides[:1]), "test")
    assert (default.evaluation.executor, default.evaluation.n_jobs) == ("joblib", 1)


def test_units_are_the_folds_between_refits() -> None:
    folds = [dataclasses.make_dataclass("F", ["refit"])(flag) for flag in (1, 0, 0, 1, 1)]
    assert refit_positions(folds) == [[0, 1, 2], [3], [4]]


@pytest.mark.parametrize("executor", ["local", "joblib"])
def test_local_executors_give_the_same_forecasts(executor) -> None:
    bars = {TICKER: load_bars("sample", [TICKER])[TICKER].iloc[-700:]}
    job = tiny_job()
    reference = backtest_panel(bars, job, with_model=False)[TICKER]
    n_jobs = 2 if executor == "joblib" else 1
    job = with_evaluation(job, executor=executor, n_jobs=n_jobs)
    labels: list[str] = []
    found = backtest_panel(
        bars, job, with_model=False, progress=lambda ticker, *_: labels.append(ticker)
    )
    assert labels == [TICKER] * 3
    for name, forecast in reference.forecasts.items():
        np.testing.assert_array_equal(found[TICKER].forecasts[name], forecast)


def test_an_unreachable_cluster_fails_in_one_line_before_any_fold() -> None:
    from fincast.evaluation.ray_executor import ClusterUnreachable

    address = f"127.0.0.1:{closed_port()}"
    bars = {TICKER: load_bars("sample", [TICKER])[TICKER].iloc[-700:]}
    job = with_evaluation(tiny_job(), executor="ray", ray=RaySpec(address=address))
    ran: list[object] = []
    started = time.perf_counter()
    with pytest.raises(ClusterUnreachable) as refused:
        backtest_panel(bars, job, with_model=False, progress=lambda *result: ran.append(result))
    assert time.perf_counter() - started < 30
    assert not ran
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"no Ray cluster answers at evaluation.ray.address={address} (")
    assert "ray start --head" in message
    assert isinstance(refused.value, ValueError)  # the CLI's one-line path for bad settings


def test_a_malformed_address_is_named() -> None:
    from fincast.evaluation.ray_executor import ClusterUnreachable, connect

    with pytest.raises(ClusterUnreachable, match="must be auto or the head's host:port"):
        connect(RaySpec(address="headnode"))


def test_units_that_ran_again_are_logged_in_one_line(caplog) -> None:
    from fincast.evaluation.ray_executor import log_reruns

    starts = {"AAPL fold 1": ["a" * 16], "MSFT fold 2": ["b" * 16, "a" * 16]}
    addresses = {"a" * 16: "127.0.0.1", "b" * 16: "127.0.0.1"}
    with caplog.at_level(logging.WARNING, logger="fincast.evaluation.ray_executor"):
        assert log_reruns(starts, addresses) == ["MSFT fold 2"]
        assert log_reruns({"AAPL fold 1": ["a" * 16]}, addresses) == []
    (record,) = caplog.records
    assert record.getMessage() == (
        "ray: 1 unit(s) ran again after a lost worker or node: MSFT fold 2 "
        "(node bbbbbbbb at 127.0.0.1 then node aaaaaaaa at 127.0.0.1)"
    )


def test_the_ray_executor_is_chosen_by_run_groups(monkeypatch) -> None:
    import fincast.evaluation.ray_executor as ray_executor

    calls: list[RaySpec] = []
    monkeypatch.setattr(
        ray_executor, "run_on_ray", lambda groups, loss, spec, _: calls.append(spec) or []
    )
    spec = RaySpec(address="10.0.0.5:6379")
    assert run_groups([], np.subtract, EvaluationSpec(executor="ray", ray=spec)) == []
    assert calls == [spec]


@pytest.mark.e2e
def test_the_cli_refuses_an_unreachable_cluster_in_one_line(tmp_path) -> None:
    from fincast_cli import run_cli

    address = f"127.0.0.1:{closed_port()}"
    result = run_cli(
        "fincast-backtest",
        "evaluation=walkforward",
        "evaluation.executor=ray",
        f"evaluation.ray.address={address}",
        "backend=jax",
        "tracking=none",
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"fincast-backtest: error: no Ray cluster answers at evaluation.ray.address={address} ("
    )
    assert " fold " not in result.stderr  # nothing ran


def test_doctests_pass() -> None:
    import doctest

    from fincast.evaluation import ray_executor, runner

    for module in (runner, ray_executor):
        result = doctest.testmod(module, verbose=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__
