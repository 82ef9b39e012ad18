"""Memory and speed of the global LSTM at 500 tickers x 10 years, against the 2-ticker case.

Issue 16 items 3 and 7. Training windows are gathered one batch at a time
(``fincast.data.windows.WindowArray`` + ``fincast.fitting.batches.WindowBatches``, a
``keras.utils.PyDataset``), never materialised for the universe; this measures what
that costs and saves.

**The universe is synthetic, built from the 88 real stocks of the bundled stocknet
panel** (2012-09..2017-09). Synthetic ticker ``i`` takes real stock ``i mod 88`` and
block-bootstraps its days (blocks of 20 consecutive sessions, drawn with replacement
by a generator seeded with ``(seed, i)``) onto a business-day calendar of
``years * 252`` sessions ending 2017-08-31. Each day carries the real stock's log
return of the adjusted close, its open-to-close log move, its high/low log range and
its log volume; the bars are rebuilt from them (close = first real price x the
cumulated returns, open from the open-to-close move, high and low around them so that
``log(high/low)`` is the real range, volume as drawn). So the features a model sees
(``log_return``, ``log_range``, ``volume_change``) are the real stock's within each
block, with a jump in volume at the seams between blocks. Deterministic: ticker ``i``
is the same in every universe size and every run.

Every contender runs in its own subprocess (one backend each, fixed threads: see
``_harness.py``), so its peak RSS is that process's ``ru_maxrss``. Contenders:

* ``inmemory-2``: 2 tickers through the path as it was before batches: each ticker's
  windows materialised with ``numpy.lib.stride_tricks.sliding_window_view``, stacked
  with ``np.concatenate`` (the old ``concat_windows`` copy), then
  ``model.fit(x, y, batch_size=256, shuffle=True)`` (compiled exactly as
  ``train_model`` compiles, inside ``sharded_training`` as ``train_model`` was).
* ``batched-2``: the same 2 tickers through today's path: ``make_windows`` per ticker,
  ``concat_windows`` (a lazy ``WindowArray``) and ``fincast.fitting.fit.train_model``
  (``WindowBatches``).
* ``batched-N``: all N tickers (default 500) the same way: one global LSTM on every
  window. ``WindowBatches`` is built over all of them (a permutation of every window
  each epoch); a full epoch of ~1.2M windows takes minutes, so each epoch stops after
  ``--steps`` batches (``keras.config.set_max_steps_per_epoch``): 1 warm-up epoch plus
  2 timed ones.
* ``inmemory-N`` (only with ``--contenders``): the old path on the whole universe, for
  the memory it would need.
* ``forecast``: ``fincast.serving.forecast.forecast_panel`` (one batched predict) with a
  freshly built LSTM, for the 88 real tickers and for the N synthetic ones: the first
  call (which compiles the predictor for the new shape) and the median of ``--calls``
  calls; and two of its parts timed alone the same way: the input columns
  (``FeatureRecipe.frames``) and the one batched predict (``Forecaster.predict_window``).

The 2-ticker contenders train 1 warm-up epoch plus ``--epochs`` timed epochs. Every
contender's samples/s is the windows trained per second in its median timed epoch
(compilation is in the warm-up epoch); the JSON also has the batch rate inside the
epochs, from a callback that Keras runs off the training loop (``async_safe``). Every
contender reports the process's RSS before its windows are built and its peak RSS.
``--repeats`` rounds run every contender (the two 2-ticker contenders in alternating
order); the table gives the median of the rounds, and each ratio to ``inmemory-2`` is
the median of the per-round ratios.

    .venv/bin/python benchmarks/universe_scale.py [--tickers 500] [--years 10]
        [--repeats 3] [--backends jax,tensorflow,torch] [--quick]

Prints markdown tables and writes ``benchmarks/results/universe_scale.json``
(``universe_scale_<backends>.json`` when the backends are not just jax; ``--quick``
writes ``universe_scale_quick.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # the benchmarks folder is not a package
    BACKENDS,
    machine_info,
    markdown_table,
    run_worker,
    write_results,
)

FEATURES = ["log_return", "log_range", "volume_change"]
TARGET = "log_return"
LOOKBACK, HORIZON, UNITS, BATCH = 60, 5, 64, 256
SESSIONS_PER_YEAR = 252
BLOCK = 20  # bootstrap block, sessions
LAST_SESSION = "2017-08-31"
UNIVERSE_EPOCHS = 2  # timed epochs of `--steps` batches each on the big universe
SMALL = 2  # tickers of the small case
TARGET_PEAK_MB = 2048
TARGET_RATIO = 0.9
CONTENDERS = ("inmemory-2", "batched-2", "batched-universe", "forecast")
OPTIONAL = ("inmemory-universe",)
QUICK = {"tickers": 6, "years": 1, "epochs": 2, "steps": 8, "calls": 2, "repeats": 1}


# --- the synthetic universe ----------------------------------------------------------


def _source_days(bars: Any) -> Any:
    """One real stock's days as rows of (log return, open-to-close, log range, log volume)."""
    import numpy as np

    adjusted = bars["adj_close"].to_numpy("float64")
    close, open_ = bars["close"].to_numpy("float64"), bars["open"].to_numpy("float64")
    high, low = bars["high"].to_numpy("float64"), bars["low"].to_numpy("float64")
    volume = bars["volume"].to_numpy("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.column_stack(
            [
                np.log(adjusted[1:] / adjusted[:-1]),
                np.log(close[1:] / open_[1:]),
                np.log(high[1:] / low[1:]),
                np.log1p(volume[1:]),
            ]
        )
    return days[np.isfinite(days).all(axis=1)], float(adjusted[0])


def synthetic_universe(count: int, years: int, seed: int = 0) -> dict[str, Any]:
    """``count`` tickers x ``years * 252`` sessions of daily bars, built from the 88 real ones.

    See the module docstring. Ticker ``i`` is named ``S<i>_<real ticker>``.
    """
    import numpy as np
    import pandas as pd

    from fincast.data.loading import load_bars

    real = load_bars("stocknet", ["all"], strict=False)
    names = list(real)
    sources = {name: _source_days(real[name]) for name in names[: min(count, len(names))]}
    sessions = years * SESSIONS_PER_YEAR
    index = pd.bdate_range(end=LAST_SESSION, periods=sessions, name="date")
    offsets = np.arange(BLOCK)
    universe = {}
    for number in range(count):
        name = names[number % len(names)]
        days, first_price = sources[name]
        generator = np.random.default_rng([seed, number])
        starts = generator.integers(0, len(days) - BLOCK + 1, -(-sessions // BLOCK))
        drawn = days[(starts[:, None] + offsets).ravel()[:sessions]]
        returns, open_to_close, log_range, log_volume = drawn.T
        close = first_price * np.exp(np.cumsum(returns))
        open_ = close * np.exp(-open_to_close)
        spare = np.maximum(log_range - np.abs(open_to_close), 0.0) / 2
        universe[f"S{number:04d}_{name}"] = pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) * np.exp(spare),
                "low": np.minimum(open_, close) * np.exp(-spare),
                "close": close,
                "adj_close": close,
                "volume": np.expm1(log_volume),
            },
            index=index,
        )
    return universe


# --- measurements inside a worker ----------------------------------------------------


def rss_mb() -> float:
    """This process's resident set size now, MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (``ru_maxrss``), MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timer() -> Any:
    """A callback that records every epoch's length and every batch's end."""
    import keras

    class Timer(keras.callbacks.Callback):
        # Keras then runs the batch hook in a thread once the step's logs are ready, and
        # the training loop never waits for it (no per-step sync on JAX or PyTorch)
        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[float] = []
            self.batch_ends: list[float] = []
            self.batches_per_epoch: list[int] = []
            self._started = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._started = time.perf_counter()
            self.batches_per_epoch.append(0)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.batch_ends.append(time.perf_counter())
            self.batches_per_epoch[-1] += 1

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.epochs.append(time.perf_counter() - self._started)

    return Timer()


def _step_rate(batch_ends: list[float], windows_per_batch: int, warm: int) -> float | None:
    """Windows per second over the batches after the first ``warm`` (full batches only)."""
    if len(batch_ends) <= warm + 1:
        return None
    return round(
        (len(batch_ends) - 1 - warm) * windows_per_batch / (batch_ends[-1] - batch_ends[warm]), 1
    )


def _materialised(features: list[Any]) -> tuple[Any, Any]:
    """The old path: every ticker's windows as a copy, stacked with ``np.concatenate``."""
    import numpy as np

    inputs, targets = [], []
    for frame in features:
        values = frame.to_numpy(dtype="float32")
        count = len(values) - LOOKBACK - HORIZON + 1
        windows = np.lib.stride_tricks.sliding_window_view(values, LOOKBACK, axis=0)
        inputs.append(windows.transpose(0, 2, 1)[:count])
        column = values[LOOKBACK:, FEATURES.index(TARGET)]
        targets.append(np.lib.stride_tricks.sliding_window_view(column, HORIZON)[:count])
    return np.concatenate(inputs), np.concatenate(targets)


def _lazy(features: dict[str, Any]) -> Any:
    """Today's path: ``make_windows`` per ticker, ``concat_windows`` (a lazy WindowArray)."""
    from fincast.data.windows import concat_windows, make_windows

    parts = [
        make_windows(frame, TARGET, lookback=LOOKBACK, horizon=HORIZON, ticker=ticker)
        for ticker, frame in features.items()
    ]
    return concat_windows(parts)


def train_contender(
    contender: str, tickers: int, years: int, epochs: int, steps: int
) -> dict[str, Any]:
    """Build the universe, its windows and the LSTM; train; report speed and memory."""
    import keras

    from fincast.data.features import make_features
    from fincast.fitting.fit import set_seed, train_model
    from fincast.models.builders import build_lstm, fit_scaling
    from fincast.models.fused_lstm import sharded_training

    universe = contender.endswith("universe")
    count = tickers if universe else SMALL
    report: dict[str, Any] = {"rss_after_imports_mb": rss_mb()}
    started = time.perf_counter()
    bars = synthetic_universe(count, years)
    report["universe_build_s"] = round(time.perf_counter() - started, 2)
    report["rss_before_windows_mb"] = rss_mb()
    report["peak_rss_before_windows_mb"] = peak_rss_mb()
    started = time.perf_counter()
    features = {ticker: make_features(frame, FEATURES) for ticker, frame in bars.items()}
    if contender.startswith("inmemory"):
        inputs, targets = _materialised(list(features.values()))
    else:
        windows = _lazy(features)
        inputs, targets = windows.inputs, windows.targets
    report["windows_build_s"] = round(time.perf_counter() - started, 2)
    report["rss_after_windows_mb"] = rss_mb()
    windows_count = len(inputs)
    set_seed(0)
    model = build_lstm(
        lookback=LOOKBACK,
        num_features=len(FEATURES),
        horizon=HORIZON,
        scaling=fit_scaling(inputs, targets),
        units=UNITS,
    )
    report["peak_rss_before_fit_mb"] = peak_rss_mb()  # after the scaling's moments
    timer = _timer()
    run_epochs = 1 + (UNIVERSE_EPOCHS if universe else epochs)
    if universe:  # every epoch: the next `steps` batches of a permutation of every window
        keras.config.set_max_steps_per_epoch(steps)
    started = time.perf_counter()
    if contender.startswith("inmemory"):  # the old train_model: arrays straight into fit
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"], jit_compile="auto"
        )
        with sharded_training(model):
            model.fit(
                inputs, targets, epochs=run_epochs, batch_size=BATCH, shuffle=True, verbose=0,
                callbacks=[timer],
            )  # fmt: skip
    else:
        train_model(
            model, (inputs, targets), epochs=run_epochs, batch_size=BATCH, verbose=0,
            callbacks=[timer],
        )  # fmt: skip
    report["fit_s"] = round(time.perf_counter() - started, 2)
    report.update(
        {
            "tickers": count,
            "windows": windows_count,
            "materialised_windows_mb": round(windows_count * LOOKBACK * len(FEATURES) * 4 / 2**20),
            "rss_after_training_mb": rss_mb(),
            "peak_rss_mb": peak_rss_mb(),
            "batches_trained": len(timer.batch_ends),
            "batches_per_epoch": timer.batches_per_epoch,
            "epoch_seconds": [round(value, 4) for value in timer.epochs],
        }
    )
    median_epoch = statistics.median(timer.epochs[1:])
    trained = windows_count if not universe else min(steps, timer.batches_per_epoch[0]) * BATCH
    report["samples_per_second"] = round(trained / median_epoch, 1)
    report["windows_per_epoch"] = trained
    report["median_epoch_s"] = round(median_epoch, 4)
    report["first_epoch_s"] = round(timer.epochs[0], 4)
    # the batch rate inside the timed epochs (leaves out each epoch's start and end, and
    # the last, smaller batch of a full epoch)
    per_epoch = timer.batches_per_epoch[0]
    last = per_epoch if universe else per_epoch - 1
    rates = [
        _step_rate(timer.batch_ends[epoch * per_epoch : epoch * per_epoch + last], BATCH, 1)
        for epoch in range(1, len(timer.epochs))
    ]
    rates = [rate for rate in rates if rate]
    report["in_epoch_samples_per_second"] = round(statistics.median(rates), 1) if rates else None
    return report


def _median_seconds(function: Any, calls: int) -> float:
    """Median wall seconds of ``calls`` calls of ``function``."""
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def forecast_contender(tickers: int, years: int, calls: int) -> dict[str, Any]:
    """``forecast_panel`` for the 88 real tickers and the synthetic universe, and its parts."""
    import keras
    import numpy as np

    from fincast.data.features import make_features
    from fincast.data.loading import load_bars
    from fincast.data.recipe import FeatureRecipe
    from fincast.data.windows import last_window
    from fincast.fitting.fit import set_seed
    from fincast.models.builders import build_lstm, fit_scaling
    from fincast.serving.forecast import Forecaster, forecast_panel

    real = load_bars("stocknet", ["all"], strict=False)
    synthetic = synthetic_universe(tickers, years)
    sample = _lazy({name: make_features(real[name], FEATURES) for name in list(real)[:4]})
    set_seed(0)
    model = build_lstm(
        lookback=LOOKBACK,
        num_features=len(FEATURES),
        horizon=HORIZON,
        scaling=fit_scaling(sample.inputs, sample.targets),
        units=UNITS,
    )
    report: dict[str, Any] = {}
    for label, bars in (("real", real), ("synthetic", synthetic)):
        card = {
            "features": FEATURES,
            "lookback": LOOKBACK,
            "horizon": HORIZON,
            "tickers": list(bars),
            "target": TARGET,
            "price": "adj_close",
            "backend": keras.backend.backend(),
            "model": "lstm",
        }
        forecaster = Forecaster(model=model, card=card, uri="benchmark")
        started = time.perf_counter()
        forecasts = forecast_panel(forecaster, bars)
        first = time.perf_counter() - started
        seconds = []
        for _ in range(calls):
            started = time.perf_counter()
            forecast_panel(forecaster, bars)
            seconds.append(time.perf_counter() - started)
        # two of its parts timed alone: the input columns, and the one batched predict
        recipe = FeatureRecipe.of_card(card)
        frames = recipe.frames(bars)
        stacked = np.concatenate([last_window(frame, LOOKBACK) for frame in frames.values()])
        features_s = _median_seconds(lambda recipe=recipe, bars=bars: recipe.frames(bars), calls)
        predict_s = _median_seconds(
            lambda forecaster=forecaster, stacked=stacked: forecaster.predict_window(stacked),
            calls,
        )
        median = statistics.median(seconds)
        report[label] = {
            "tickers": len(bars),
            "forecasts": len(forecasts),
            "windows_predicted": len(stacked),
            "first_call_s": round(first, 4),
            "median_call_s": round(median, 4),
            "call_seconds": [round(value, 4) for value in seconds],
            "features_s": round(features_s, 4),
            "predict_s": round(predict_s, 4),
            "rest_s": round(median - features_s - predict_s, 4),
        }
    report["peak_rss_mb"] = peak_rss_mb()
    return report


def worker(options: argparse.Namespace) -> dict[str, Any]:
    """What one subprocess measures: one contender on one backend."""
    load = round(os.getloadavg()[0], 2)
    if options.contender == "forecast":
        result = forecast_contender(options.tickers, options.years, options.calls)
    else:
        result = train_contender(
            options.contender, options.tickers, options.years, options.epochs, options.steps
        )
    import keras

    return {
        "contender": options.contender,
        "backend": keras.backend.backend(),
        "load_average_1m": [load, round(os.getloadavg()[0], 2)],
        **result,
    }


# --- the driver ----------------------------------------------------------------------


def label(contender: str, tickers: int) -> str:
    return contender.replace("universe", str(tickers))


def _median_field(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def _round_ratios(
    rounds: list[dict[str, dict[str, Any]]], backend: str, contender: str
) -> list[float]:
    """``contender``'s samples/s over ``inmemory-2``'s, in each round that has both."""
    ratios = []
    for one in rounds:
        runs = one.get(backend, {})
        mine = runs.get(contender, {}).get("samples_per_second")
        base = runs.get("inmemory-2", {}).get("samples_per_second")
        if mine and base:
            ratios.append(mine / base)
    return ratios


def summarise(rounds: list[dict[str, dict[str, Any]]], tickers: int) -> dict[str, Any]:
    """Per backend: every contender's medians over the rounds, and the ratios."""
    summary: dict[str, Any] = {}
    backends = {backend for one in rounds for backend in one}
    for backend in sorted(backends, key=BACKENDS.index):
        runs_of: dict[str, list[dict[str, Any]]] = {}
        for one in rounds:
            for contender, run in one.get(backend, {}).items():
                if "error" not in run:
                    runs_of.setdefault(contender, []).append(run)
        entry: dict[str, Any] = {}
        for contender, runs in runs_of.items():
            if contender == "forecast":
                entry[contender] = {
                    part: {
                        "tickers": runs[0][part]["tickers"],
                        "windows_predicted": runs[0][part]["windows_predicted"],
                        "median_call_s": round(
                            statistics.median(run[part]["median_call_s"] for run in runs), 4
                        ),
                        "first_call_s": round(
                            statistics.median(run[part]["first_call_s"] for run in runs), 4
                        ),
                        **{
                            key: round(statistics.median(run[part][key] for run in runs), 4)
                            for key in ("features_s", "predict_s", "rest_s")
                        },
                    }
                    for part in ("real", "synthetic")
                }
                continue
            entry[contender] = {
                "label": label(contender, tickers),
                "tickers": runs[0]["tickers"],
                "windows": runs[0]["windows"],
                "samples_per_second": _median_field(runs, "samples_per_second"),
                "rounds_samples_per_second": [run["samples_per_second"] for run in runs],
                "in_epoch_samples_per_second": _median_field(runs, "in_epoch_samples_per_second"),
                "peak_rss_mb": _median_field(runs, "peak_rss_mb"),
                "rounds_peak_rss_mb": [run["peak_rss_mb"] for run in runs],
                "rss_before_windows_mb": _median_field(runs, "rss_before_windows_mb"),
                "rss_after_windows_mb": _median_field(runs, "rss_after_windows_mb"),
                "materialised_windows_mb": runs[0]["materialised_windows_mb"],
            }
        for contender in ("batched-2", "batched-universe", "inmemory-universe"):
            ratios = _round_ratios(rounds, backend, contender)
            if ratios and contender in entry:
                entry[contender]["x_inmemory_2"] = round(statistics.median(ratios), 3)
                entry[contender]["rounds_x_inmemory_2"] = [round(value, 3) for value in ratios]
        if "x_inmemory_2" in entry.get("batched-2", {}):
            entry["ratio_batched_2_to_inmemory_2"] = entry["batched-2"]["x_inmemory_2"]
        summary[backend] = entry
    return summary


def print_tables(summary: dict[str, Any], tickers: int) -> None:
    rows = []
    for backend, entry in summary.items():
        for contender in (*CONTENDERS, *OPTIONAL):
            if contender == "forecast" or contender not in entry:
                continue
            one = entry[contender]
            rows.append(
                [
                    backend,
                    f"`{one['label']}`",
                    f"{one['windows']:,}",
                    f"{one['samples_per_second']:,.0f}" if one["samples_per_second"] else "-",
                    f"{one['x_inmemory_2']:.3f}" if "x_inmemory_2" in one else "",
                    f"{one['rss_before_windows_mb']:,.0f}",
                    f"**{one['peak_rss_mb']:,.0f}**",
                    f"{one['materialised_windows_mb']:,}",
                ]
            )
    header = [
        "backend",
        "contender",
        "windows",
        "samples/s",
        "x inmemory-2",
        "RSS before windows (MB)",
        "peak RSS (MB)",
        "windows if materialised (MB)",
    ]
    print(markdown_table(header, rows))
    rows = []
    for backend, entry in summary.items():
        if "forecast" not in entry:
            continue
        for part in ("real", "synthetic"):
            one = entry["forecast"][part]
            rows.append(
                [
                    backend,
                    f"{one['tickers']} {'stocknet' if part == 'real' else 'synthetic'}",
                    one["windows_predicted"],
                    f"{one['first_call_s']:.3f}",
                    f"**{one['median_call_s']:.3f}**",
                    f"{one['features_s']:.3f}",
                    f"{one['predict_s']:.4f}",
                    f"{one['rest_s']:.3f}",
                ]
            )
    if not rows:
        return
    print()
    header = [
        "backend",
        "forecast_panel over",
        "windows",
        "first call (s)",
        "median call (s)",
        "features (s)",
        "one batched predict (s)",
        "the rest: windows, per-ticker results (s)",
    ]
    print(markdown_table(header, rows))


def targets(summary: dict[str, Any]) -> dict[str, Any]:
    """Each backend's figures against the issue's targets."""
    verdicts: dict[str, Any] = {}
    for backend, entry in summary.items():
        peak = entry.get("batched-universe", {}).get("peak_rss_mb")
        ratio = entry.get("ratio_batched_2_to_inmemory_2")
        verdicts[backend] = {
            "peak_rss_mb_universe": peak,
            "peak_rss_under_2gb": None if peak is None else peak < TARGET_PEAK_MB,
            "ratio_batched_2_to_inmemory_2": ratio,
            "within_10_percent": None if ratio is None else ratio >= TARGET_RATIO,
        }
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickers", type=int, default=500, help="tickers of the big universe")
    parser.add_argument("--years", type=int, default=10, help="years of 252 sessions")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every contender")
    parser.add_argument("--backends", default="jax", help="comma-separated, e.g. jax,torch")
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs (2-ticker cases)")
    parser.add_argument(
        "--steps", type=int, default=300, help="batches trained on the big universe"
    )
    parser.add_argument("--calls", type=int, default=5, help="timed forecast_panel calls")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated, of {', '.join((*CONTENDERS, *OPTIONAL))}",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--output", type=str, default=None, help="results file name (no .json)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.quick:
        for key, value in QUICK.items():
            setattr(options, key, value)
    if options.worker:
        print(json.dumps(worker(options)))
        return 0
    backends = [name.strip() for name in options.backends.split(",") if name.strip()]
    contenders = [name.strip() for name in options.contenders.split(",") if name.strip()]
    unknown = [name for name in backends if name not in BACKENDS]
    unknown += [name for name in contenders if name not in (*CONTENDERS, *OPTIONAL)]
    if unknown:
        parser.error(f"unknown backends or contenders: {unknown}")
    machine = machine_info(options.threads)
    arguments = [
        "--tickers", str(options.tickers), "--years", str(options.years),
        "--epochs", str(options.epochs), "--steps", str(options.steps),
        "--calls", str(options.calls),
    ]  # fmt: skip
    script = Path(__file__).resolve()
    rounds: list[dict[str, dict[str, Any]]] = []
    for index in range(options.repeats):
        measured: dict[str, dict[str, Any]] = {}
        order = contenders if index % 2 == 0 else [*contenders[:2][::-1], *contenders[2:]]
        for backend in backends:
            for contender in order:
                started = time.perf_counter()
                try:
                    result = run_worker(
                        script, backend, [*arguments, "--contender", contender], options.threads,
                        timeout=1800,
                    )  # fmt: skip
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    result = {"error": str(error)[-3000:]}
                    print(f"{backend} {contender} FAILED:\n{result['error']}", file=sys.stderr)
                measured.setdefault(backend, {})[contender] = result
                print(
                    f"round {index + 1}: {backend} {contender} done in "
                    f"{time.perf_counter() - started:.0f} s "
                    f"(samples/s {result.get('samples_per_second')}, "
                    f"peak RSS {result.get('peak_rss_mb')} MB, load {os.getloadavg()[0]:.1f})",
                    file=sys.stderr,
                )
        rounds.append(measured)
    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    summary = summarise(rounds, options.tickers)
    print_tables(summary, options.tickers)
    verdicts = targets(summary)
    print("\nTargets:", json.dumps(verdicts, indent=1))
    settings = {
        "tickers": options.tickers,
        "years": options.years,
        "sessions": options.years * SESSIONS_PER_YEAR,
        "features": FEATURES,
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "units": UNITS,
        "batch_size": BATCH,
        "timed_epochs_small": options.epochs,
        "steps_universe": options.steps,
        "timed_epochs_universe": UNIVERSE_EPOCHS,
        "forecast_calls": options.calls,
        "repeats": options.repeats,
        "block": BLOCK,
        "quick": options.quick,
    }
    name = options.output or (
        "universe_scale_quick"
        if options.quick
        else "universe_scale" + ("" if backends == ["jax"] else "_" + "_".join(backends))
    )
    payload = {
        "machine": machine,
        "settings": settings,
        "summary": summary,
        "targets": verdicts,
        "rounds": rounds,
    }
    path = write_results(name, payload)
    print(f"Results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
