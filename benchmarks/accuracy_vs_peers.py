"""Accuracy next to the peers: fincast's LSTM and MLP vs Darts and NeuralForecast, same folds.

Both tasks on the bundled ^GSPC: ``returns`` (the next 5 daily log returns, squared
error, scored against the random walk ``naive``) and ``volatility`` (the annualised
realised volatility over the next k = 1..5 days, QLIKE, scored against HAR). The
folds, windows, targets and baselines are fincast's own (``prepare_universe``,
``make_folds``, ``fold_plan``, the task's candidates); every model forecasts the
same test origins from the same lookback of the same feature columns, refitted on
each fold's training days with the same epochs, batch size and learning rate, no
early stopping and no validation split.

* fincast: ``lstm`` (LSTM(64) + dense multi-horizon head) and ``mlp`` (Dense 64-64),
  fitted by fincast's walk-forward ``ModelForecaster`` (``fit_forecaster``) in this
  process, on ``--backend`` (default torch: fincast's fastest LSTM on a CPU, as in
  ``backtest_speed.py``).
* peers (``peers_accuracy.py``, run by ``--peer-python``, the ``.venv-bench``
  interpreter): Darts ``BlockRNNModel(LSTM, 64)`` and ``NBEATSModel``; NeuralForecast
  ``LSTM`` and ``NHITS`` when it is installed there. They model the daily series
  (the log return, or the annualised daily Garman-Klass volatility whose running
  mean of squares is the volatility target) with the other feature columns as past
  covariates, fitted on the days up to each fold's last training target.

Every forecast is scored on the same origins with the task's loss: the ratio of its
mean loss to the reference baseline's, and fincast's Diebold-Mariano test with a HAC
variance (``diebold_mariano(test="hac")``, as reports use) of each model against
fincast's best model (negative statistic: that model has the lower loss). Fit time
is the wall time of the fits over all folds (forecasting excluded), 2 threads each.

    .venv/bin/python benchmarks/accuracy_vs_peers.py --peer-python .venv-bench/bin/python \
        [--folds 3] [--step 250] [--epochs 2] [--backend torch] [--tasks returns volatility]

Writes ``benchmarks/results/accuracy_vs_peers.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _harness import machine_info, markdown_table, thread_environment, write_results

ROOT = Path(__file__).resolve().parents[1]
PEER_SCRIPT = Path(__file__).resolve().parent / "peers_accuracy.py"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
LOOKBACK, HORIZON, BATCH, LEARNING_RATE, THREADS = 60, 5, 256, 1e-3, 2
REFERENCE = {"returns": "naive", "volatility": "har"}
TARGET = {"returns": "log_return", "volatility": "realised_vol"}
BUILDERS = {
    "lstm": {"_target_": "fincast.models.builders.build_lstm", "units": 64},
    "mlp": {"_target_": "fincast.models.builders.build_mlp", "units": [64, 64]},
}
PEERS = ("darts_lstm", "darts_nbeats", "nf_lstm", "nf_nhits")


def job_for(task: str, model: str, folds: int, step: int, epochs: int) -> Any:
    """The fincast job: fixed epochs on every training window, no interval, one baseline."""
    from fincast.specs import (
        DataSpec,
        EvaluationSpec,
        FitSpec,
        IntervalSpec,
        JobSpec,
        ModelSpec,
        TaskSpec,
    )

    return JobSpec(
        data=DataSpec(tickers=["^GSPC"]),
        task=TaskSpec(
            name=task,
            target=TARGET[task],
            lookback=LOOKBACK,
            horizon=HORIZON,
            intervals=IntervalSpec(method="none"),
        ),
        model=ModelSpec(name=model, builder=BUILDERS[model]),
        training=FitSpec(
            epochs=epochs,
            batch_size=BATCH,
            learning_rate=LEARNING_RATE,
            patience=0,
            reduce_lr=None,
            verbose=0,
        ),
        evaluation=EvaluationSpec(
            name="walkforward",
            folds=folds,
            step=step,
            validation_fraction=0.0,
            baselines=[REFERENCE[task]],
            executor="local",
        ),
    )


def fincast_folds(job: Any) -> tuple[list[Any], Any, Any]:
    """fincast's folds of the job, its feature frame and daily series (^GSPC)."""
    from fincast.data.loading import load_bars
    from fincast.evaluation.folds import make_folds
    from fincast.evaluation.series import feature_recipe, prepare_universe
    from fincast.evaluation.walkforward import fold_plan

    bars = {"^GSPC": load_bars("sample", ["^GSPC"])["^GSPC"]}
    windows, dailies, _ = prepare_universe(bars, job)
    folds = make_folds(windows["^GSPC"], dailies, horizon=HORIZON, plan=fold_plan(job.evaluation))
    features = feature_recipe(job, ["^GSPC"]).frames(bars)["^GSPC"]
    return folds, features, dailies["^GSPC"]


def peer_data(task: str, folds: list[Any], features: Any, daily: Any) -> dict[str, np.ndarray]:
    """The daily series the peers model, with fincast's fold cuts as positions.

    Checks that the peers' daily series give back fincast's window targets exactly.
    """
    from fincast.evaluation.targets import TRADING_DAYS, cumulative_volatility

    if task == "returns":
        target = features["log_return"].to_numpy("float64")
        covariates = features.drop(columns="log_return").to_numpy("float64")
    else:
        variance = daily["gk_variance"].reindex(features.index).to_numpy("float64")
        target = np.sqrt(TRADING_DAYS * variance)
        covariates = features.to_numpy("float64")
    origins = np.concatenate([features.index.get_indexer(f.test.as_of) for f in folds])
    future = np.stack([target[origin + 1 : origin + 1 + HORIZON] for origin in origins])
    if task == "volatility":
        future = cumulative_volatility(future**2 / TRADING_DAYS)
    actual = np.concatenate([fold.test.targets for fold in folds])
    np.testing.assert_allclose(future, actual, rtol=1e-5, atol=1e-7)
    return {
        "target": target,
        "covariates": covariates,
        "train_end": features.index.get_indexer([fold.train_end for fold in folds]),
        "origins": origins,
        "fold": np.concatenate([np.full(len(fold.test), fold.index) for fold in folds]),
    }


def fincast_forecasts(job: Any, folds: list[Any]) -> tuple[np.ndarray, list[float]]:
    """fincast's model refitted on each fold by the walk-forward's ModelForecaster."""
    from fincast.evaluation.forecasters import model_candidate

    forecaster = model_candidate(job).forecast
    parts, seconds = [], []
    for fold in folds:
        started = time.perf_counter()
        forecaster.fit(fold)
        seconds.append(time.perf_counter() - started)
        parts.append(np.asarray(forecaster(replace(fold, refit=False))))
    return np.concatenate(parts).astype("float64"), seconds


def baseline_forecasts(job: Any, folds: list[Any]) -> np.ndarray:
    """The task's reference baseline (naive or HAR) on the same folds."""
    from fincast.evaluation.runner import forecast_fold
    from fincast.evaluation.walkforward import candidates_for

    (reference,) = candidates_for(job, with_model=False)
    return np.concatenate([forecast_fold(reference, fold) for fold in folds]).astype("float64")


def run_peer(
    peer: str, data: dict[str, np.ndarray], settings: dict[str, Any], python: Path
) -> dict[str, Any]:
    """One peer over every fold in ``python`` (the peers' venv); its forecasts and times."""
    with tempfile.TemporaryDirectory() as folder:
        inputs, outputs = Path(folder) / "data.npz", Path(folder) / "forecasts.npz"
        np.savez(inputs, settings=json.dumps(settings), **data)
        completed = subprocess.run(
            [
                str(python),
                str(PEER_SCRIPT),
                "--peer",
                peer,
                "--data",
                str(inputs),
                "--output",
                str(outputs),
            ],
            env={**os.environ, **thread_environment(THREADS), "PYTHONWARNINGS": "ignore"},
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if completed.returncode != 0:
            return {"error": completed.stderr.strip().splitlines()[-1][:300]}
        with np.load(outputs) as stored:
            return {name: stored[name] for name in stored.files}


def score(
    task: str, actual: np.ndarray, forecasts: dict[str, np.ndarray], reference: str
) -> dict[str, dict[str, Any]]:
    """Loss ratio to the reference and the HAC DM test against fincast's best model."""
    from fincast.evaluation.stats import diebold_mariano
    from fincast.evaluation.tasks import task_named

    loss_values = task_named(task).loss_values
    losses = {name: loss_values(actual, value).mean(axis=1) for name, value in forecasts.items()}
    best = min(("fincast_lstm", "fincast_mlp"), key=lambda name: losses[name].mean())
    rows = {}
    for name, loss in losses.items():
        row: dict[str, Any] = {
            "mean_loss": float(loss.mean()),
            "loss_vs_reference": float(loss.mean() / losses[reference].mean()),
        }
        if name != best:
            test = diebold_mariano(loss, losses[best], HORIZON, test="hac")
            row.update(dm_vs=best, dm_statistic=test.statistic, dm_p=test.p_value)
        rows[name] = row
    return rows


def run_task(task: str, arguments: argparse.Namespace) -> dict[str, Any]:
    """Every model on one task's folds: forecasts, fit seconds and scores."""
    jobs = {
        model: job_for(task, model, arguments.folds, arguments.step, arguments.epochs)
        for model in BUILDERS
    }
    folds, features, daily = fincast_folds(jobs["lstm"])
    data = peer_data(task, folds, features, daily)
    actual = np.concatenate([fold.test.targets for fold in folds]).astype("float64")
    reference = REFERENCE[task]
    forecasts = {reference: baseline_forecasts(jobs["lstm"], folds)}
    fit_seconds: dict[str, float] = {}
    notes: dict[str, str] = {}
    for model, job in jobs.items():
        forecasts[f"fincast_{model}"], seconds = fincast_forecasts(job, folds)
        fit_seconds[f"fincast_{model}"] = sum(seconds)
        print(f"{task}: fincast_{model} fitted in {sum(seconds):.1f} s", flush=True)
    settings = {
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "epochs": arguments.epochs,
        "batch_size": BATCH,
        "learning_rate": LEARNING_RATE,
    }
    for peer in arguments.peers:
        result = run_peer(peer, data, settings, arguments.peer_python)
        if "error" in result:
            notes[peer] = result["error"]
            print(f"{task}: {peer} failed: {result['error']}", flush=True)
            continue
        values = result["forecasts"]
        if task == "volatility":  # daily vol forecasts -> the k-day realised vol target
            from fincast.evaluation.targets import TRADING_DAYS, cumulative_volatility

            values = cumulative_volatility(np.maximum(values, 1e-4) ** 2 / TRADING_DAYS)
        forecasts[peer] = values
        fit_seconds[peer] = float(result["fit_seconds"].sum())
        print(f"{task}: {peer} fitted in {fit_seconds[peer]:.1f} s", flush=True)
    scores = score(task, actual, forecasts, reference)
    for name, seconds in fit_seconds.items():
        scores[name]["fit_seconds"] = round(seconds, 2)
    return {
        "reference": reference,
        "loss": "QLIKE" if task == "volatility" else "MSE",
        "test_origins": len(actual),
        "first_origin": str(folds[0].test.as_of.min().date()),
        "last_origin": str(folds[-1].test.as_of.max().date()),
        "train_windows_per_fold": [len(fold.train) for fold in folds],
        "scores": scores,
        "failed": notes,
    }


def table(task: str, result: dict[str, Any]) -> str:
    """One markdown table of a task's scores."""
    reference = result["reference"]
    header = ["model", f"loss / {reference}", "HAC DM vs fincast's best (stat, p)", "fit s"]
    rows = []
    for name, row in result["scores"].items():
        dm = (
            f"{row['dm_statistic']:+.2f}, p={row['dm_p']:.3f}"
            if "dm_p" in row
            else "(best fincast)"
        )
        seconds = f"{row['fit_seconds']:.1f}" if "fit_seconds" in row else "-"
        rows.append([name, f"{row['loss_vs_reference']:.4f}", dm, seconds])
    return f"**{task}** ({result['loss']})\n\n" + markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", type=Path, default=BENCH_PYTHON)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--step", type=int, default=250)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(REFERENCE), choices=list(REFERENCE))
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS)
    parser.add_argument("--backend", default="torch", choices=("torch", "tensorflow", "jax"))
    parser.add_argument("--output", default="accuracy_vs_peers")
    arguments = parser.parse_args()
    os.environ.update({**thread_environment(THREADS), "KERAS_BACKEND": arguments.backend})
    from fincast.backend import select_backend

    select_backend(arguments.backend)
    import keras  # noqa: F401  (before any fit is timed, as the peers import theirs first)

    payload: dict[str, Any] = {
        "machine": machine_info(THREADS),
        "settings": {
            "ticker": "^GSPC",
            "folds": arguments.folds,
            "step": arguments.step,
            "lookback": LOOKBACK,
            "horizon": HORIZON,
            "epochs": arguments.epochs,
            "batch_size": BATCH,
            "learning_rate": LEARNING_RATE,
            "fincast_backend": arguments.backend,
            "dm_test": "hac",
        },
        "tasks": {},
    }
    for task in arguments.tasks:
        payload["tasks"][task] = run_task(task, arguments)
        print(table(task, payload["tasks"][task]) + "\n", flush=True)
        payload["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
        path = write_results(arguments.output, payload)  # after each task: a partial run counts
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
