"""The accuracy peers, run in the benchmark virtualenv ``.venv-bench`` (not fincast's).

``accuracy_vs_peers.py`` writes one ``.npz`` per task: the daily target series
(log return, or annualised daily Garman-Klass volatility), the daily past covariates
(the other feature columns fincast's windows hold), and per fold the position of the
last training target day and of every test origin, all cut by fincast's own folds.
This script fits one peer per fold on the days up to that fold's last training
target (scaled on those days only), forecasts the next ``horizon`` days from every
test origin with ``retrain=False``, and writes the forecasts (in the series' units)
and the wall seconds of each fit and forecast to ``--output`` (``.npz``).

Peers: Darts ``BlockRNNModel(model="LSTM")`` and ``NBEATSModel``; NeuralForecast
``LSTM`` and ``NHITS`` when it is installed. Every peer gets the same lookback
(input chunk), horizon (output chunk), epochs, batch size and learning rate as
fincast's models; their architectures are the library defaults but for the LSTM
width (64, as fincast's) and N-BEATS' depth (10 generic stacks, not 30: see
``NBEATS_STACKS``).

    .venv-bench/bin/python benchmarks/peers_accuracy.py --peer darts_lstm \
        --data data.npz --output out.npz
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

PEERS = ("darts_lstm", "darts_nbeats", "nf_lstm", "nf_nhits")
UNITS = 64
# Darts' default is 30 generic stacks (~7M weights): 3x slower to fit than 10, more than
# this benchmark's budget on 2 shared cores allows; its other settings stay the defaults
NBEATS_STACKS = 10


def _quiet() -> None:
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _trainer_kwargs() -> dict[str, Any]:
    return {
        "accelerator": "cpu",
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,
    }


def darts_model(peer: str, settings: dict[str, Any]) -> Any:
    """An unfitted Darts model with the shared sizes and fit budget."""
    from darts.models import BlockRNNModel, NBEATSModel

    shared = {
        "input_chunk_length": settings["lookback"],
        "output_chunk_length": settings["horizon"],
        "batch_size": settings["batch_size"],
        "n_epochs": settings["epochs"],
        "optimizer_kwargs": {"lr": settings["learning_rate"]},
        "random_state": 0,
        "pl_trainer_kwargs": _trainer_kwargs(),
    }
    if peer == "darts_lstm":
        return BlockRNNModel(model="LSTM", hidden_dim=UNITS, n_rnn_layers=1, **shared)
    return NBEATSModel(num_stacks=NBEATS_STACKS, **shared)


def darts_fold(
    peer: str, data: dict[str, np.ndarray], fold: int, settings: dict[str, Any]
) -> tuple[np.ndarray, float, float]:
    """One fold of a Darts peer: fit on the training days, forecast every test origin."""
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from sklearn.preprocessing import StandardScaler

    horizon = settings["horizon"]
    train_end = int(data["train_end"][fold])
    origins = data["origins"][data["fold"] == fold].astype(int)
    last = int(origins.max()) + horizon + 1  # every test target day
    target = TimeSeries.from_values(data["target"][:last, None].astype("float32"))
    covariates = TimeSeries.from_values(data["covariates"][:last].astype("float32"))
    target_scaler, covariate_scaler = Scaler(StandardScaler()), Scaler(StandardScaler())
    target_scaler.fit(target[: train_end + 1])
    covariate_scaler.fit(covariates[: train_end + 1])
    series, past = target_scaler.transform(target), covariate_scaler.transform(covariates)
    model = darts_model(peer, settings)
    started = time.perf_counter()
    model.fit(series[: train_end + 1], past_covariates=past[: train_end + 1], verbose=False)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    forecasts = model.historical_forecasts(
        series,
        past_covariates=past,
        start=int(origins.min()) + 1,
        start_format="value",
        forecast_horizon=horizon,
        stride=1,
        retrain=False,
        last_points_only=False,
        verbose=False,
    )
    by_start = {
        int(forecast.start_time()): target_scaler.inverse_transform(forecast).values()[:, 0]
        for forecast in forecasts
    }
    values = np.stack([by_start[int(origin) + 1] for origin in origins])
    return values, fit_seconds, time.perf_counter() - started


def nf_model(peer: str, settings: dict[str, Any], steps: int, exogenous: list[str]) -> Any:
    """An unfitted NeuralForecast model with the shared sizes and fit budget."""
    from neuralforecast.models import LSTM, NHITS

    shared = {
        "h": settings["horizon"],
        "input_size": settings["lookback"],
        "hist_exog_list": exogenous,
        "max_steps": steps,
        "batch_size": 1,  # one series: NeuralForecast batches windows by windows_batch_size
        "windows_batch_size": settings["batch_size"],
        "learning_rate": settings["learning_rate"],
        "scaler_type": "standard",
        "val_check_steps": steps + 1,
        "random_seed": 0,
        **_trainer_kwargs(),
    }
    if peer == "nf_lstm":
        return LSTM(encoder_hidden_size=UNITS, encoder_n_layers=1, **shared)
    return NHITS(**shared)


def nf_fold(
    peer: str, data: dict[str, np.ndarray], fold: int, settings: dict[str, Any]
) -> tuple[np.ndarray, float, float]:
    """One fold of a NeuralForecast peer: ``max_steps`` = epochs x batches per epoch."""
    import pandas as pd
    from neuralforecast import NeuralForecast

    horizon, lookback = settings["horizon"], settings["lookback"]
    train_end = int(data["train_end"][fold])
    origins = data["origins"][data["fold"] == fold].astype(int)
    exogenous = [f"x{column}" for column in range(data["covariates"].shape[1])]
    frame = pd.DataFrame(data["covariates"].astype("float64"), columns=exogenous)
    frame.insert(0, "y", data["target"].astype("float64"))
    frame.insert(0, "ds", pd.RangeIndex(len(frame)))
    frame.insert(0, "unique_id", "series")
    windows = train_end + 1 - lookback - horizon + 1
    steps = settings["epochs"] * math.ceil(windows / settings["batch_size"])
    forecaster = NeuralForecast(
        models=[nf_model(peer, settings, steps, exogenous)], freq=1, local_scaler_type=None
    )
    started = time.perf_counter()
    forecaster.fit(frame.iloc[: train_end + 1], val_size=0)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    column = "LSTM" if peer == "nf_lstm" else "NHITS"
    # every origin's last `lookback` days as its own short series: one batched predict
    rows = np.concatenate([np.arange(origin + 1 - lookback, origin + 1) for origin in origins])
    histories = frame.iloc[rows].assign(unique_id=np.repeat(origins, lookback))
    predicted = forecaster.predict(df=histories).sort_values(["unique_id", "ds"])
    values = predicted[column].to_numpy("float64").reshape(len(origins), horizon)
    order = np.argsort(np.argsort(origins))  # predict sorts by unique_id
    return values[order], fit_seconds, time.perf_counter() - started


def run(peer: str, data_path: Path, output: Path) -> dict[str, Any]:
    """Every fold of ``peer``; writes forecasts and seconds to ``output``."""
    _quiet()
    with np.load(data_path) as stored:
        data = {name: stored[name] for name in stored.files}
    settings = json.loads(str(data["settings"]))
    fold_function = darts_fold if peer.startswith("darts") else nf_fold
    parts, fit_seconds, forecast_seconds = [], [], []
    for fold in range(len(data["train_end"])):
        values, fitted, forecasted = fold_function(peer, data, fold, settings)
        parts.append(values)
        fit_seconds.append(fitted)
        forecast_seconds.append(forecasted)
    np.savez(
        output,
        forecasts=np.concatenate(parts),
        fit_seconds=np.array(fit_seconds),
        forecast_seconds=np.array(forecast_seconds),
    )
    return {"peer": peer, "fit_seconds": sum(fit_seconds), "forecasts": sum(map(len, parts))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=PEERS, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args()
    print(json.dumps(run(arguments.peer, arguments.data, arguments.output)))


if __name__ == "__main__":
    main()
