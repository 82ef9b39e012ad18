"""Walk-forward backtest speed: fincast's default LSTM vs Darts ``historical_forecasts``.

Both sides forecast the next 5 daily log returns of the bundled S&P 500 from 60-day
windows of the same three features (log return, log range, volume change), with an
LSTM(64) and a dense multi-horizon head, refitted (scaling included) at the start of
each of 10 folds of 250 test days, on an expanding window, with Adam(1e-3), batch 256.

Runs, each in its own subprocess with the same thread settings:

- ``fincast-default``: the default config as ``make run`` would use it (up to 20 epochs,
  early stopping on the latest 15% of each fold's training windows), on the first of
  ``--backends``.
- ``fincast-fixed-<backend>``: fixed ``--epochs`` epochs on every training window, no
  validation, for each of ``--backends`` (default: every installed backend).
- ``fincast-fixed-<backend>-<n>jobs``: the same with ``--n-jobs`` folds trained at once
  (``evaluation.n_jobs``), each worker on ``threads / n`` threads, for the first backend.
- ``darts-fixed``: Darts ``BlockRNNModel(model="LSTM")`` with the same sizes and epochs,
  ``historical_forecasts(retrain=250, forecast_horizon=5, stride=1)`` from the same
  first test day, with a ``Scaler`` refitted on each training set (``retrain=True``
  would refit at all 2,500 origins; an integer refits every 250, like the folds).
- ``darts-folds-fixed``: the same model, fitted per fold by hand, then Darts' optimised
  ``historical_forecasts(retrain=False)`` over the fold (batched prediction).

Darts runs in a separate environment (``.venv-bench``: ``python3 -m venv .venv-bench &&
.venv-bench/bin/pip install -c constraints.txt "darts[torch]"``); it is not a fincast
dependency.

Usage::

    .venv/bin/python benchmarks/backtest_speed.py [--epochs 5] [--repeats 1] [--skip-default]
        [--backends torch tensorflow jax] [--n-jobs 2] [--skip-historical] [--output FILE]

``--skip-historical`` leaves out ``darts-fixed`` (about 30 minutes on 2 cores).

Writes ``benchmarks/results/backtest_speed.json`` and prints a table. Times are wall
seconds of the whole backtest (fits, forecasts, baselines), medians over ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _harness import installed_backends, thread_environment

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "sample" / "sp500_nasdaq_daily.csv"
RESULTS = ROOT / "benchmarks" / "results" / "backtest_speed.json"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
FOLDS, STEP, LOOKBACK, HORIZON, UNITS, BATCH = 10, 250, 60, 5, 64, 256
THREADS = os.cpu_count() or 1
FASTEST_FIRST = ["torch", "tensorflow", "jax"]  # LSTM training speed on a CPU (README)


def environment(backend: str = "torch", threads: int = THREADS) -> dict[str, str]:
    """The same thread caps for every contender (``threads`` per process)."""
    return {
        **os.environ,
        **thread_environment(threads),
        "KERAS_BACKEND": backend,
        "PYTHONWARNINGS": "ignore",
    }


def fincast_worker(epochs: int | None, n_jobs: int = 1) -> dict[str, Any]:
    """Time fincast's walk-forward backtest in this process (``None``: the default config)."""
    import keras  # noqa: F401  (outside the clock, as Darts' import: fincast imports it lazily)

    from fincast.data.loading import load_bars
    from fincast.evaluation.report import build_report
    from fincast.evaluation.walkforward import backtest_panel
    from fincast.specs import DataSpec, EvaluationSpec, FitSpec, JobSpec, TaskSpec

    bars = load_bars("sample", ["^GSPC"])["^GSPC"]
    evaluation: dict[str, Any] = {"name": "walkforward", "folds": FOLDS, "step": STEP}
    training: dict[str, Any] = {"verbose": 0}
    if epochs is not None:  # fixed epochs on every window: no validation, a fixed rate
        training.update(epochs=epochs, patience=0, reduce_lr=None)
        evaluation["validation_fraction"] = 0.0
    job = JobSpec(
        data=DataSpec(tickers=["^GSPC"]),
        task=TaskSpec(lookback=LOOKBACK, horizon=HORIZON),
        training=FitSpec(**training),
        evaluation=EvaluationSpec(**evaluation, baselines=["naive"], n_jobs=n_jobs),
    )
    started = time.perf_counter()
    backtest = backtest_panel({"^GSPC": bars}, job)["^GSPC"]
    seconds = time.perf_counter() - started
    scores = build_report(backtest).scores
    return {
        "seconds": seconds,
        "fold_seconds": backtest.folds["seconds"].round(2).tolist(),
        "forecasts": len(backtest.origins),
        "first_origin": str(backtest.origins.min().date()),
        "model_mse": float(scores.loc["model", "mse"]),
        "naive_mse": float(scores.loc["naive", "mse"]),
        "dm_p_vs_naive": float(scores.loc["naive", "dm_p_all"]),
        "backend": __import__("keras").backend.backend(),
        "n_jobs": n_jobs,
    }


def _darts_setup(epochs: int, first_origin: str) -> tuple[Any, Any, Any, int]:
    """Series, covariates, an unfitted BlockRNNModel and the first forecast position."""
    import logging

    import numpy as np
    import pandas as pd
    from darts import TimeSeries

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    bars = pd.read_csv(DATA, parse_dates=["date"])
    bars = bars[bars["ticker"] == "^GSPC"].set_index("date").sort_index()
    frame = pd.DataFrame(
        {
            "log_return": np.log(bars["adj_close"]).diff(),
            "log_range": np.log(bars["high"] / bars["low"]),
            "volume_change": np.log1p(bars["volume"]).diff(),
        }
    ).dropna()
    dates = frame.index
    frame = frame.reset_index(drop=True).astype("float32")  # trading-day positions as time
    start = int(np.searchsorted(dates, pd.Timestamp(first_origin))) + 1
    series = TimeSeries.from_series(frame["log_return"])
    covariates = TimeSeries.from_dataframe(frame[["log_range", "volume_change"]])
    model = _block_rnn(epochs)
    return series, covariates, model, start


def _block_rnn(epochs: int) -> Any:
    """Darts' LSTM with fincast's default sizes, on the CPU, quiet."""
    from darts.models import BlockRNNModel

    return BlockRNNModel(
        model="LSTM",
        input_chunk_length=LOOKBACK,
        output_chunk_length=HORIZON,
        hidden_dim=UNITS,
        n_rnn_layers=1,
        batch_size=BATCH,
        n_epochs=epochs,
        optimizer_kwargs={"lr": 1e-3},
        random_state=42,
        pl_trainer_kwargs={
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
        },
    )


def _darts_scores(series: Any, forecasts: list[Any], seconds: float) -> dict[str, Any]:
    import numpy as np

    predicted = np.stack([forecast.values()[:, 0] for forecast in forecasts])
    actual = np.stack([series.slice_intersect(forecast).values()[:, 0] for forecast in forecasts])
    return {
        "seconds": seconds,
        "forecasts": len(forecasts),
        "model_mse": float(np.mean((predicted - actual) ** 2)),
        "naive_mse": float(np.mean(actual**2)),
        "darts_version": __import__("darts").__version__,
    }


def darts_worker(epochs: int, first_origin: str) -> dict[str, Any]:
    """Darts' historical_forecasts with a refit every 250 steps (runs in the Darts venv)."""
    from darts.dataprocessing.transformers import Scaler

    series, covariates, model, start = _darts_setup(epochs, first_origin)
    started = time.perf_counter()
    forecasts = model.historical_forecasts(
        series,
        past_covariates=covariates,
        start=start,
        forecast_horizon=HORIZON,
        stride=1,
        retrain=STEP,
        last_points_only=False,
        overlap_end=False,
        verbose=False,
        data_transformers={"series": Scaler(), "past_covariates": Scaler()},
    )
    return _darts_scores(series, forecasts, time.perf_counter() - started)


def darts_fold_worker(epochs: int, first_origin: str) -> dict[str, Any]:
    """Darts as an expert might run it: per fold, fit, then the optimised historical_forecasts."""
    from darts.dataprocessing.transformers import Scaler

    series, covariates, model, start = _darts_setup(epochs, first_origin)
    started = time.perf_counter()
    forecasts: list[Any] = []
    for fold in range(FOLDS):
        fold_start = start + fold * STEP
        fold_end = min(fold_start + STEP + HORIZON - 1, len(series))
        scaler, covariate_scaler = Scaler(), Scaler()
        train = scaler.fit_transform(series[:fold_start])
        train_covariates = covariate_scaler.fit_transform(covariates[:fold_start])
        model.fit(train, past_covariates=train_covariates, verbose=False)
        scaled = model.historical_forecasts(
            scaler.transform(series[:fold_end]),
            past_covariates=covariate_scaler.transform(covariates[:fold_end]),
            start=fold_start,
            forecast_horizon=HORIZON,
            stride=1,
            retrain=False,
            last_points_only=False,
            overlap_end=False,
            verbose=False,
        )
        forecasts += [scaler.inverse_transform(forecast) for forecast in scaled]
    return _darts_scores(series, forecasts, time.perf_counter() - started)


def run_worker(
    arguments: list[str], python: Path | str = sys.executable, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run this script as a worker in a fresh process; its last stdout line is JSON."""
    command = [str(python), str(Path(__file__).resolve()), *arguments]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env or environment(),
        cwd=ROOT,
        timeout=3600,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1:] or ["failed"]}
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def median_run(
    name: str,
    arguments: list[str],
    repeats: int,
    python: Path | str,
    env: dict[str, str] | None = None,
) -> dict:
    """The run with the median time out of ``repeats``, with every time listed."""
    runs = []
    for repeat in range(repeats):
        print(f"{name}: run {repeat + 1}/{repeats} ...", file=sys.stderr, flush=True)
        runs.append(run_worker(arguments, python, env))
        if "error" in runs[-1]:
            return runs[-1]
    times = [run["seconds"] for run in runs]
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**middle, "seconds": statistics.median(times), "all_seconds": times}


def collect_runs(options: argparse.Namespace) -> dict[str, Any]:
    """Every contender's median run, fincast first (Darts starts at fincast's first origin)."""
    runs: dict[str, Any] = {}
    first, repeats = options.backends[0], options.repeats
    if not options.skip_default:
        default = ["--worker", "fincast", "--epochs", "0", "--n-jobs", "1"]
        runs["fincast-default"] = median_run(
            "fincast-default", default, repeats, sys.executable, environment(first)
        )
    fixed = ["--worker", "fincast", "--epochs", str(options.epochs), "--n-jobs", "1"]
    for backend in options.backends:
        name = f"fincast-fixed-{backend}"
        runs[name] = median_run(name, fixed, repeats, sys.executable, environment(backend))
    if options.n_jobs > 1:
        name = f"fincast-fixed-{first}-{options.n_jobs}jobs"
        parallel = [*fixed[:-1], str(options.n_jobs)]
        per_worker = environment(first, max(1, THREADS // options.n_jobs))
        runs[name] = median_run(name, parallel, repeats, sys.executable, per_worker)
    origin = runs[f"fincast-fixed-{first}"].get("first_origin")
    darts_runs = [("darts-folds-fixed", "darts-folds")]
    if not options.skip_historical:
        darts_runs.insert(0, ("darts-fixed", "darts"))
    for name, worker in darts_runs:
        if not BENCH_PYTHON.exists() or origin is None:
            runs[name] = {"error": f"no Darts environment at {BENCH_PYTHON}"}
            continue
        darts = ["--worker", worker, "--epochs", str(options.epochs), "--first-origin", origin]
        runs[name] = median_run(name, darts, repeats, BENCH_PYTHON)
    return runs


def main() -> None:
    """Run the contenders, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-historical", action="store_true", help="leave out darts-fixed")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=sorted(installed_backends(), key=FASTEST_FIRST.index),
        help="fincast's Keras backends (the first also runs the default config and --n-jobs)",
    )
    parser.add_argument(
        "--n-jobs", type=int, default=2, help="also train this many folds at once (1: never)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--worker", choices=["fincast", "darts", "darts-folds"])
    parser.add_argument("--first-origin", default="")
    options = parser.parse_args()
    if options.worker == "fincast":
        epochs = None if options.epochs == 0 else options.epochs
        print(json.dumps(fincast_worker(epochs, options.n_jobs)))
        return
    if options.worker in ("darts", "darts-folds"):
        worker = darts_worker if options.worker == "darts" else darts_fold_worker
        print(json.dumps(worker(options.epochs, options.first_origin)))
        return
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "setup": {"folds": FOLDS, "step": STEP, "lookback": LOOKBACK, "horizon": HORIZON},
        "epochs_fixed": options.epochs,
    }
    runs = results["runs"] = collect_runs(options)
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2))
    print_table(runs)
    print(f"written: {options.output}")


def print_table(runs: dict[str, dict[str, Any]]) -> None:
    """One line per run: seconds, forecasts, MSEs, and how many times faster than each Darts run."""
    peers = ("darts-fixed", "darts-folds-fixed")
    darts = [name for name in peers if "seconds" in runs.get(name, {})]
    header = f"{'run':<28} {'seconds':>9} {'forecasts':>9} {'model mse':>11} {'naive mse':>11}"
    print(header + "".join(f" {'vs ' + name:>21}" for name in darts))
    for name, run in runs.items():
        if "error" in run:
            print(f"{name:<28} error: {run['error']}")
            continue
        speedups = "".join(f" {runs[peer]['seconds'] / run['seconds']:>20.2f}x" for peer in darts)
        print(
            f"{name:<28} {run['seconds']:>9.1f} {run['forecasts']:>9} "
            f"{run['model_mse']:>11.3e} {run['naive_mse']:>11.3e}{speedups}"
        )


if __name__ == "__main__":
    main()
