"""Registered fincast models through MLflow's own clients, as an MLflow user loads them.

Every model family is trained by ``fincast-train`` into one store; then, in fresh
processes that import nothing of fincast, ``mlflow.pyfunc.load_model`` and
``mlflow.keras.load_model`` load them, ``mlflow models predict`` answers on stdout with
JSON, and ``mlflow models serve`` on a loopback port answers ``/invocations`` with the
dated forecast for the logged input example, for a CSV of bars and for raw windows.
Each answer is checked against the forecast ``fincast-train`` itself logged.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from fincast_cli import BIN, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = [
    "backend=jax",
    "data.tickers=[^GSPC]",
    "training.epochs=1",
    "evaluation.test_days=60",
    "task.lookback=20",
]
# registered name -> the overrides that train it: every family, a quantile and a volatility model
MODELS = {
    "fincast-returns-lstm": ["model=lstm"],
    "fincast-returns-mlp": ["model=mlp"],
    "fincast-returns-cnn": ["model=cnn", "task.quantiles=[0.1,0.5,0.9]"],
    "fincast-returns-t2v_attention": ["model=t2v_attention"],
    "fincast-volatility-lstm": ["task=volatility", "model=lstm"],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A directory whose ``mlflow.db`` holds a champion of every entry of MODELS."""
    workdir = tmp_path_factory.mktemp("registered")
    for overrides in MODELS.values():
        result = run_cli("fincast-train", *TINY, *overrides, cwd=workdir, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def mlflow_env(workdir: Path) -> dict[str, str]:
    """An MLflow user's environment: the venv on PATH, the store's URIs, no KERAS_BACKEND."""
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    path = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # an activated venv: serve runs uvicorn
    return {**env, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri, "PATH": path}


def logged(workdir: Path, name: str) -> tuple[dict, pd.DataFrame]:
    """The champion's serving input example and the forecast fincast-train logged with it."""
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    version = client.get_model_version_by_alias(name, "champion")
    source = client.get_model_version_download_uri(name, version.version)
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=source))
    example = json.loads((folder / "serving_input_example.json").read_text())
    run_folder = client.download_artifacts(version.run_id, "forecast", str(folder.parent))
    expected = pd.read_csv(Path(run_folder) / "next_days.csv")
    return example, expected


def check_forecast(records: list[dict], expected: pd.DataFrame, name: str) -> None:
    """The served records are the forecast fincast-train printed and logged."""
    frame = pd.DataFrame(records)
    target = "realised_vol" if "volatility" in name else "log_return"
    assert list(frame["date"]) == list(expected["date"])
    assert list(frame["step"]) == list(range(1, len(expected) + 1))
    assert set(frame["target"]) == {target}
    np.testing.assert_allclose(frame["value"], expected[target], rtol=1e-5, atol=1e-7)
    if target == "log_return":
        np.testing.assert_allclose(frame["price"], expected["price"], rtol=1e-6)
    else:
        assert "price" not in frame.columns  # volatility is never compounded into prices
    quantiles = [column for column in expected.columns if column.startswith("q")]
    for column in quantiles:
        np.testing.assert_allclose(frame[column], expected[column], rtol=1e-5, atol=1e-7)
    assert bool(quantiles) == ("cnn" in name)
    # the calibrated 80% interval of the card (every model has one by default)
    for column in ("lower", "upper"):
        np.testing.assert_allclose(frame[column], expected[column], rtol=1e-5, atol=1e-7)


LOAD_SCRIPT = """
import json, sys
import mlflow
import pandas as pd
name, example_file = sys.argv[1], sys.argv[2]
assert "keras" not in sys.modules  # fincast's MLflow plugin waits for Keras, imports nothing
pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
split = json.load(open(example_file))["dataframe_split"]
bars = pd.DataFrame(split["data"], columns=split["columns"])
bars = bars.astype({column: "float64" for column in ("open", "high", "low", "close")})
out = pyfunc.predict(bars)
keras_model = mlflow.keras.load_model(f"models:/{name}@champion")
print(json.dumps({"records": out.to_dict(orient="records"),
                  "keras_input": list(keras_model.input_shape)[1:],
                  "keras": type(keras_model).__module__}))
"""


@pytest.mark.parametrize("name", sorted(MODELS))
def test_mlflow_loaders_work_in_a_fresh_process(store, name, tmp_path):
    example, expected = logged(store, name)
    example_file = tmp_path / "example.json"
    example_file.write_text(json.dumps(example))
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, name, str(example_file)],
        capture_output=True,
        text=True,
        env=mlflow_env(store),
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    check_forecast(answer["records"], expected, name)
    assert answer["keras"].startswith("keras.")
    assert answer["keras_input"][0] == 20  # the raw Keras model takes windows of 20 days


@pytest.mark.parametrize("name", sorted(MODELS))
def test_mlflow_models_predict_prints_json(store, name, tmp_path):
    example, expected = logged(store, name)
    example_file = tmp_path / "example.json"
    example_file.write_text(json.dumps(example))
    result = subprocess.run(
        [
            str(BIN / "mlflow"),
            "models",
            "predict",
            "-m",
            f"models:/{name}@champion",
            "-i",
            str(example_file),
            "-t",
            "json",
            "--env-manager",
            "local",
        ],
        capture_output=True,
        text=True,
        env=mlflow_env(store),
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check_forecast(json.loads(result.stdout)["predictions"], expected, name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(store, request) -> Iterator[str]:
    """``mlflow models serve`` of the champion named by the test's parameter, on 127.0.0.1."""
    name = request.param
    port = free_port()
    log = (store / f"serve-{name}.log").open("wb")
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{name}@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=mlflow_env(store),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=store,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError((store / f"serve-{name}.log").read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("served", sorted(MODELS), indirect=True)
def test_mlflow_models_serve_answers_with_the_dated_forecast(store, served, request):
    name = request.node.callspec.params["served"]
    example, expected = logged(store, name)

    status, answer = post(served, json.dumps(example).encode(), "application/json")
    assert status == 200, answer
    check_forecast(answer["predictions"], expected, name)

    split = example["dataframe_split"]
    bars = pd.DataFrame(split["data"], columns=split["columns"]).drop(columns="ticker")
    bars["volume"] = bars["volume"].round().astype("int64")  # a CSV as users have them
    status, answer = post(served, bars.to_csv(index=False).encode(), "text/csv")
    assert status == 200, answer
    check_forecast(answer["predictions"], expected, name)

    records = {"dataframe_records": bars.tail(3).to_dict(orient="records")}
    status, answer = post(served, json.dumps(records).encode(), "application/json")
    assert status == 400
    assert "send at least" in answer["message"]


@pytest.mark.parametrize("served", ["fincast-returns-cnn"], indirect=True)
def test_raw_windows_through_inputs(served):
    windows = np.random.default_rng(0).normal(0, 0.01, size=(2, 20, 3)).tolist()
    body = json.dumps({"inputs": [{"window": json.dumps(window)} for window in windows]}).encode()
    status, answer = post(served, body, "application/json")
    assert status == 200, answer
    frame = pd.DataFrame(answer["predictions"])
    assert list(frame["window"].unique()) == [0, 1]
    assert {"q0.1", "q0.5", "q0.9", "value", "lower", "upper"} <= set(frame.columns)
    np.testing.assert_allclose(frame["value"], frame["q0.5"])
    # CQR moves the model's own 0.1 and 0.9 quantiles out by one correction per step
    widened = pd.concat([frame["q0.1"] - frame["lower"], frame["upper"] - frame["q0.9"]], axis=1)
    np.testing.assert_allclose(widened[0], widened[1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(widened[0][:5].to_numpy(), widened[0][5:].to_numpy(), rtol=1e-6)

    wrong = json.dumps({"inputs": [{"window": json.dumps([[0.0, 0.0]] * 20)}]}).encode()
    status, answer = post(served, wrong, "application/json")
    assert status == 400
    assert "3 features" in answer["message"]


def test_input_example_is_the_fewest_bars_a_forecast_needs():
    """The logged example holds exactly the lookback's feature rows after the warm-up."""
    from fincast.data.features import make_features
    from fincast.data.sources import bars_from_table, load_sample
    from fincast.serving.pyfunc import input_example

    card = {"features": ["log_return", "log_range", "volume_change"], "lookback": 20}
    example = input_example(load_sample(["^GSPC", "^IXIC"]), card)
    assert set(example["ticker"]) == {"^GSPC", "^IXIC"}
    assert example["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()  # as JSON and CSV carry it
    bars = bars_from_table(example, where="The example", name="x", ticker_column="ticker")
    for frame in bars.values():
        assert len(make_features(frame, card["features"], price="adj_close")) == 20
        assert len(make_features(frame.iloc[1:], card["features"], price="adj_close")) == 19
