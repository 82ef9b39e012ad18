"""The CLI as a user runs it: fincast-train then fincast-forecast, in a fresh directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import pytest

from fincast_cli import run_cli as run

pytestmark = pytest.mark.e2e

TINY = [
    "backend=jax",
    "data.tickers=[^GSPC]",
    "model.builder.units=8",
    "task.lookback=20",
    "training.epochs=1",
    "evaluation.test_days=60",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("project")
    result = run("fincast-train", *TINY, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def test_train_prints_scores_and_forecast(trained):
    _, result = trained
    assert "Backend: jax" in result.stderr
    assert "Held-out scores" in result.stdout and "naive" in result.stdout
    assert "Forecast for ^GSPC after 2018-12-31" in result.stdout
    assert "models:/fincast-returns-lstm/1" in result.stdout


def test_train_logs_run_and_registers_model(trained):
    workdir, _ = trained
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)
    experiment = client.get_experiment_by_name("fincast")
    (run_info,) = client.search_runs([experiment.experiment_id])
    assert run_info.info.status == "FINISHED"
    params, metrics, tags = run_info.data.params, run_info.data.metrics, run_info.data.tags
    assert params["model.name"] == "lstm" and params["training.epochs"] == "1"
    assert params["data.tickers"] == '["^GSPC"]'  # lists as JSON
    assert not [key for key in params if key.endswith(("_target_", "_partial_"))]
    assert {"test_mae", "test_naive_mae", "test_mae_vs_naive", "epoch_loss"} <= set(metrics)
    assert tags["backend"] == "jax" and tags["devices"].startswith("CPU")
    # MLflow's standard tags: the UI's User, Source and Version columns
    assert tags["mlflow.user"] and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"].endswith("fincast-train")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    assert tags.get("mlflow.source.git.commit") == (commit or None)
    rates = client.get_metric_history(run_info.info.run_id, "epoch_learning_rate")
    assert [rate.value for rate in rates] == pytest.approx([1e-3])  # one epoch, the default rate
    (dataset,) = run_info.inputs.dataset_inputs
    assert dataset.dataset.source_type == "fincast"
    assert json.loads(dataset.dataset.source)["tickers"] == ["^GSPC"]
    version = client.get_model_version_by_alias("fincast-returns-lstm", "champion")
    assert version.run_id == run_info.info.run_id
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    model_dir = Path(
        mlflow.artifacts.download_artifacts(f"models:/fincast-returns-lstm/{version.version}")
    )
    assert (model_dir / "data" / "model.keras").is_file()
    mlmodel = (model_dir / "MLmodel").read_text()
    assert "signature" in mlmodel and "input_example" in mlmodel and "fincast" in mlmodel
    assert list((workdir / "models" / "fincast-returns-lstm").glob("*.keras"))


def test_forecast_json_from_the_registered_model(trained):
    workdir, _ = trained
    result = run("fincast-forecast", "output=json", "backend=tensorflow", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["ticker"] == "^GSPC" and payload["as_of"] == "2018-12-31"
    assert payload["backend"] == "tensorflow" and payload["trained_on_backend"] == "jax"
    assert payload["model_uri"] == "models:/fincast-returns-lstm@champion"
    steps = payload["forecast"]
    assert [step["step"] for step in steps] == [1, 2, 3, 4, 5]
    assert steps[0]["date"] == "2019-01-02" and all(
        isinstance(step["value"], float) for step in steps
    )


def test_backtest_scores_the_period_after_fitting(trained):
    workdir, _ = trained
    result = run("fincast-backtest", "backend=jax", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    header, table = result.stdout.split("\n", 1)
    windows = int(header.split(": ")[1].split()[0])
    assert 0 < windows <= 60
    assert header.endswith("2018-12-31 (models:/fincast-returns-lstm@champion)")
    assert {"model", "naive", "historical_mean"} <= {
        line.split()[0] for line in table.splitlines()[2:]
    }


def test_backtest_on_a_period_before_fitting_explains(trained):
    workdir, _ = trained
    data = workdir / "old.csv"
    rows = ["date,open,high,low,close,volume"]
    rows += [f"2000-01-{day:02d},1,2,0.5,1.{day},100" for day in range(1, 31)]
    data.write_text("\n".join(rows))
    result = run(
        "fincast-backtest",
        "backend=jax",
        "data=csv",
        f"data.options.path={data}",
        "data.tickers=[OLD]",
        cwd=workdir,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("fincast-backtest: error: ")


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_forecast_without_a_model_says_how_to_train(tmp_path):
    result = run("fincast-forecast", "backend=jax", cwd=tmp_path)
    assert result.returncode == 2
    assert "fincast-train" in _last_line(result)
    assert not (tmp_path / "mlflow.db").exists()


def test_unknown_ticker_is_one_clear_line(tmp_path):
    result = run("fincast-train", "backend=jax", "data.tickers=[NOPE]", cwd=tmp_path)
    assert result.returncode == 2
    assert _last_line(result) == (
        "fincast-train: error: Ticker(s) NOPE are not in the bundled sample; it has ^GSPC, ^IXIC. "
        "Use data=yfinance or data=csv for other series."
    )
    assert not (tmp_path / "models").exists()


def test_unreachable_tracking_server_fails_before_training(tmp_path):
    result = run("fincast-train", *TINY, "tracking.uri=http://127.0.0.1:9", cwd=tmp_path)
    assert result.returncode == 2
    assert "Cannot reach the MLflow tracking store" in _last_line(result)
    assert "Epoch" not in result.stdout + result.stderr


def test_bad_value_names_the_key(tmp_path):
    result = run("fincast-train", "backend=jax", "training.epochs=many", cwd=tmp_path)
    assert result.returncode == 2
    assert _last_line(result) == (
        "fincast-train: error: Error merging override training.epochs=many; "
        "Value 'many' of type 'str' could not be converted to Integer"
    )


def test_misspelt_key_is_one_clear_line(tmp_path):
    result = run("fincast-train", "backend=jax", "training.epoch=3", cwd=tmp_path)
    assert result.returncode == 2
    assert _last_line(result).startswith(
        "fincast-train: error: Unknown config key 'training.epoch'; training has: epochs,"
    )


def test_unknown_backend_is_one_clear_line(tmp_path):
    result = run("fincast-train", "backend=mxnet", cwd=tmp_path)
    assert result.returncode == 2
    assert _last_line(result) == (
        "fincast-train: error: backend must be one of auto, jax, tensorflow, torch. "
        "Received: backend='mxnet'"
    )


def test_xla_on_tensorflow_is_a_training_option(tmp_path):
    tiny = [override for override in TINY if not override.startswith("backend=")]
    result = run(
        "fincast-train", "backend=tensorflow", "training.jit_compile=true", *tiny, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cards = list((tmp_path / "models").rglob("*.json"))
    assert len(cards) == 1 and json.loads(cards[0].read_text())["jit_compile"] is True


def test_xla_on_torch_is_refused_before_training(tmp_path):
    pytest.importorskip("torch")
    result = run("fincast-train", "backend=torch", "training.jit_compile=true", cwd=tmp_path)
    assert result.returncode == 2
    assert _last_line(result).startswith(
        "fincast-train: error: training.jit_compile=true compiles with XLA, on the jax and "
        "tensorflow backends only"
    )
    assert "Epoch" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("backend", "variable", "shards", "error"),
    [
        (
            "torch",
            "FINCAST_TORCH_LSTM_SHARDS",
            2,
            "FINCAST_TORCH_LSTM_SHARDS='two' is not a shard count: use 'auto'",
        ),
        (
            "tensorflow",
            "FINCAST_TF_LSTM_SHARDS",
            3,
            "FINCAST_TF_LSTM_SHARDS must be 'auto' or a whole number >= 1 "
            "(1 turns sharding off). Received: 'two'",
        ),
    ],
)
def test_lstm_shards_are_recorded_and_a_bad_setting_is_one_line(
    tmp_path, backend: str, variable: str, shards: int, error: str
):
    pytest.importorskip(backend)
    tiny = [override for override in TINY if not override.startswith("backend=")]
    setting = {variable: str(shards)}
    result = run("fincast-train", f"backend={backend}", *tiny, cwd=tmp_path, extra_env=setting)
    assert result.returncode == 0, result.stderr[-3000:]
    cards = list((tmp_path / "models").rglob("*.json"))
    assert len(cards) == 1 and json.loads(cards[0].read_text())["lstm_shards"] == shards

    bad = {variable: "two"}
    result = run("fincast-train", f"backend={backend}", *tiny, cwd=tmp_path, extra_env=bad)
    assert result.returncode == 2
    assert _last_line(result).startswith(f"fincast-train: error: {error}")
    assert len(list((tmp_path / "models").rglob("*.json"))) == 1  # nothing stored is lost


def test_tracking_none_still_saves_the_model(tmp_path):
    result = run("fincast-train", *TINY, "tracking=none", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "mlflow.db").exists()
    assert list((tmp_path / "models" / "fincast-returns-lstm").glob("*.keras"))


@pytest.mark.parametrize("command", ["fincast-train", "fincast-backtest", "fincast-forecast"])
def test_hydra_conventions_help_and_shell_completion(command, tmp_path):
    shown = run(command, "--help", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith(f"{command} is powered by Hydra.")
    completion = run(command, "-sc", "install=bash", cwd=tmp_path)
    assert completion.returncode == 0, completion.stderr[-2000:]
    assert f"-F hydra_bash_completion {command}" in completion.stdout


def test_an_appended_key_outside_the_schema_is_refused(tmp_path):
    result = run("fincast-train", "+training.epochz=3", cwd=tmp_path)
    assert result.returncode == 2
    assert _last_line(result).startswith(
        "fincast-train: error: Unknown config key 'training.epochz'; training has: epochs"
    )
    assert not (tmp_path / "models").exists()


def test_the_log_file_is_named_after_the_command(trained):
    workdir, _ = trained
    assert list(workdir.glob("outputs/*/*/fincast-train.log"))
    assert not list(workdir.glob("outputs/*/*/common.log"))
