"""Single-window forecast latency of fincast's forecasters on each Keras backend and onnxruntime.

Each backend runs in its own subprocess (Keras fixes its backend per process), one
after another, all with the same thread count. A contender builds a fincast model
(lookback 60, 5 features, horizon 5; LSTM(64), MLP(64, 64), CNN (filters 32, 32,
Dense 64) and T2V-attention (fincast's defaults: Time2Vec 8, LSTM 32, attention 16,
RevIN)), saves it as a ``.keras`` file with its card, loads it back through fincast's
serving path (``load_forecaster``, safe mode) and times one window ``(1, 60, 5)``
through:

* ``model.predict(window, verbose=0)``: Keras' general entry point;
* ``model.predict_on_batch(window)``: Keras' compiled path, no data pipeline;
* ``Forecaster.predict_window(window)``: what fincast's CLI and dashboard call, the
  model compiled for the backend by ``fincast.serving.fast_predict`` on its first call.

The TensorFlow worker then exports each model it timed with fincast's exporter
(``fincast.serving.onnx_export.export_model``, to ``onnx/<family>.onnx`` beside the
``.keras`` file, checked against Keras), and a last subprocess, which imports no Keras
and no framework (checked), loads each file with ``load_onnx_forecaster`` and times
``OnnxForecaster.predict_window`` the same way. fincast's loader takes no session
options, so onnxruntime runs with its default intra-op thread pool (one thread per
physical core), not ``--threads``; the JSON records the session's setting.

Each path's first call (where it compiles) is timed apart, then ``--warmup`` untimed
calls, then ``--calls`` timed ones (p50, p99). Each worker also times its start-up
imports (Keras and fincast's serving and model modules, or fincast's ONNX serving
module and onnxruntime) and each model's load; interpreter start-up is not counted.

    .venv/bin/python benchmarks/latency.py [--calls 300] [--threads 2]

Prints markdown tables (every path; onnxruntime against the fastest Keras path of the
same run; start-up and load) and writes ``benchmarks/results/latency.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # the benchmarks folder is not a package
    installed_backends,
    machine_info,
    markdown_table,
    run_worker,
    write_results,
)

LOOKBACK, FEATURES, UNITS, HORIZON = 60, 5, 64, 5
FAMILIES = ("lstm", "mlp", "cnn", "t2v_attention")
PATHS = ("model.predict", "model.predict_on_batch", "Forecaster.predict_window")
ONNX_RUNTIME = "onnxruntime"  # the contender that runs the exported files, no Keras
ONNX_PATH = "OnnxForecaster.predict_window"
EXPORT_BACKEND = "tensorflow"  # fincast's ONNX export runs on TensorFlow (tf2onnx)
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")
WORKER_TIMEOUT_S = 1200


def _timings_ms(call: Callable[[], Any], warmup: int, calls: int) -> dict[str, float]:
    import numpy as np

    started = time.perf_counter()
    call()  # the first call compiles (jit / XLA / trace): reported apart
    first_call = time.perf_counter() - started
    for _ in range(warmup):
        call()
    seconds = np.empty(calls)
    for index in range(calls):
        started = time.perf_counter()
        call()
        seconds[index] = time.perf_counter() - started
    milliseconds = 1000 * seconds
    return {
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 3),
        "p99_ms": round(float(np.percentile(milliseconds, 99)), 3),
        "mean_ms": round(float(milliseconds.mean()), 3),
        "first_call_ms": round(1000 * first_call, 1),
        "calls": calls,
    }


def _window() -> Any:
    """The one window every contender forecasts."""
    import numpy as np

    return np.random.default_rng(1).normal(size=(1, LOOKBACK, FEATURES)).astype("float32")


def _build(family: str, scaling: Any) -> Any:
    """A fresh fincast model of ``family`` at the benchmark's sizes."""
    from fincast.models import builders

    shape: dict[str, Any] = {"lookback": LOOKBACK, "num_features": FEATURES, "horizon": HORIZON}
    if family == "lstm":
        return builders.build_lstm(**shape, scaling=scaling, units=UNITS)
    if family == "mlp":
        return builders.build_mlp(**shape, scaling=scaling, units=(UNITS, UNITS))
    if family == "cnn":
        return builders.build_cnn(**shape, scaling=scaling, dense_units=UNITS)
    return builders.build_t2v_attention(**shape, scaling=scaling)


def _saved_forecaster(family: str, directory: Path) -> tuple[Any, float]:
    """Build, save (with a card) and load back a forecaster, as fincast serves one.

    Returns the forecaster and the seconds its load took.
    """
    import numpy as np

    from fincast.fitting.fit import save_model, set_seed
    from fincast.models.builders import fit_scaling
    from fincast.serving.forecast import load_forecaster

    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(256, LOOKBACK, FEATURES)).astype("float32")
    targets = rng.normal(size=(256, HORIZON)).astype("float32")
    set_seed(0)
    path = save_model(_build(family, fit_scaling(inputs, targets)), directory / f"{family}.keras")
    card = {
        "features": [f"feature_{index}" for index in range(FEATURES)],
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "tickers": ["BENCH"],
    }
    path.with_suffix(".json").write_text(json.dumps(card))
    started = time.perf_counter()
    forecaster = load_forecaster(str(path))
    return forecaster, time.perf_counter() - started


def _export(path: Path) -> dict[str, Any]:
    """Export a saved model with fincast's exporter; where it went, how long, how close."""
    from fincast.serving.onnx_export import OnnxExportError, export_model

    started = time.perf_counter()
    try:
        exported = export_model(str(path))
    except OnnxExportError as error:
        return {"error": str(error)}
    return {
        "path": str(exported.path),
        "seconds": round(time.perf_counter() - started, 1),
        "max_difference": exported.max_difference,
    }


def worker(backend: str, warmup: int, calls: int, models_dir: Path) -> dict[str, Any]:
    """Latency of every path for every family on this process's backend.

    The TensorFlow worker then exports each model to ONNX (after all its timings).
    """
    started = time.perf_counter()
    import keras

    import fincast.models  # registers fincast's layers, as a load does
    import fincast.serving.forecast  # noqa: F401

    startup_s = time.perf_counter() - started
    window = _window()
    directory = models_dir / backend
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    load_ms: dict[str, float] = {}
    exports: dict[str, Any] = {}
    for family in FAMILIES:
        forecaster, load_s = _saved_forecaster(family, directory)
        load_ms[family] = round(1000 * load_s, 1)
        paths: dict[str, Callable[[], Any]] = {
            "model.predict": functools.partial(forecaster.model.predict, window, verbose=0),
            "model.predict_on_batch": functools.partial(forecaster.model.predict_on_batch, window),
            "Forecaster.predict_window": functools.partial(forecaster.predict_window, window),
        }
        results[family] = {name: _timings_ms(call, warmup, calls) for name, call in paths.items()}
    if backend == EXPORT_BACKEND:  # after every timing, so tf2onnx cannot disturb one
        exports = {family: _export(directory / f"{family}.keras") for family in FAMILIES}
    report = {
        "backend": keras.backend.backend(),
        "results": results,
        "startup_s": round(startup_s, 2),
        "load_ms": load_ms,
    }
    return {**report, "onnx_exports": exports} if exports else report


def onnx_worker(warmup: int, calls: int, models_dir: Path) -> dict[str, Any]:
    """Latency of ``OnnxForecaster.predict_window`` for every exported family, no Keras.

    Raises:
        RuntimeError: Keras or a framework was imported, so the figures would not be
            those of a Keras-free server.
    """
    started = time.perf_counter()
    import onnxruntime

    from fincast.serving.onnx_runtime import load_onnx_forecaster

    startup_s = time.perf_counter() - started
    window = _window()
    results: dict[str, Any] = {}
    load_ms: dict[str, float] = {}
    intra_op_threads: dict[str, int] = {}
    for family in FAMILIES:
        path = models_dir / EXPORT_BACKEND / "onnx" / f"{family}.onnx"
        if not path.is_file():
            continue
        started = time.perf_counter()
        forecaster = load_onnx_forecaster(path)
        load_ms[family] = round(1000 * (time.perf_counter() - started), 1)
        options = forecaster.model.get_session_options()
        intra_op_threads[family] = options.intra_op_num_threads  # 0: onnxruntime's default
        call = functools.partial(forecaster.predict_window, window)
        results[family] = {ONNX_PATH: _timings_ms(call, warmup, calls)}
    imported = [name for name in FRAMEWORKS if name in sys.modules]
    if imported:
        raise RuntimeError(f"the onnxruntime worker imported {', '.join(imported)}")
    return {
        "backend": ONNX_RUNTIME,
        "onnxruntime": onnxruntime.__version__,
        "frameworks_imported": imported,
        "intra_op_num_threads": intra_op_threads,
        "results": results,
        "startup_s": round(startup_s, 2),
        "load_ms": load_ms,
    }


def fastest_keras(measured: dict[str, Any], family: str) -> tuple[str, str, float] | None:
    """The Keras (backend, path, p50 ms) with the lowest p50 for ``family`` in this run."""
    candidates = [
        (entry["p50_ms"], backend, path)
        for backend, report in measured.items()
        if backend != ONNX_RUNTIME
        for path, entry in report["results"].get(family, {}).items()
    ]
    if not candidates:
        return None
    p50, backend, path = min(candidates)
    return backend, path, p50


def onnx_against_keras(measured: dict[str, Any]) -> dict[str, Any]:
    """Per family: onnxruntime's p50 / p99 and its ratio to the fastest Keras p50."""
    comparison: dict[str, Any] = {}
    onnx_results = measured.get(ONNX_RUNTIME, {}).get("results", {})
    for family, paths in onnx_results.items():
        fastest = fastest_keras(measured, family)
        if fastest is None:
            continue
        backend, path, keras_p50 = fastest
        onnx = paths[ONNX_PATH]
        comparison[family] = {
            "keras_backend": backend,
            "keras_path": path,
            "keras_p50_ms": keras_p50,
            "onnx_p50_ms": onnx["p50_ms"],
            "onnx_p99_ms": onnx["p99_ms"],
            "onnx_first_call_ms": onnx["first_call_ms"],
            "onnx_over_keras_p50": round(onnx["p50_ms"] / keras_p50, 2),
        }
    return comparison


def _print_tables(measured: dict[str, Any], comparison: dict[str, Any]) -> None:
    rows = [
        [backend, family, path, f"{entry['p50_ms']:.2f}", f"{entry['p99_ms']:.2f}", first]
        for backend, report in measured.items()
        for family, paths in report["results"].items()
        for path, entry in paths.items()
        for first in [f"{entry['first_call_ms']:.0f}"]
    ]
    header = ["backend", "model", "path", "p50 (ms)", "p99 (ms)", "first call (ms)"]
    print(markdown_table(header, rows))
    print()
    rows = [
        [
            family,
            f"{row['keras_backend']} {row['keras_path']}",
            f"{row['keras_p50_ms']:.3f}",
            f"{row['onnx_p50_ms']:.3f}",
            f"{row['onnx_p99_ms']:.3f}",
            f"{row['onnx_over_keras_p50']:.2f}",
        ]
        for family, row in comparison.items()
    ]
    header = [
        "model",
        "fastest Keras path",
        "its p50 (ms)",
        "onnxruntime p50 (ms)",
        "onnxruntime p99 (ms)",
        "onnxruntime / Keras p50",
    ]
    print(markdown_table(header, rows))
    print()
    rows = [
        [backend, f"{report['startup_s']:.2f}"]
        + [f"{report['load_ms'].get(family, float('nan')):.0f}" for family in FAMILIES]
        for backend, report in measured.items()
        if "startup_s" in report
    ]
    header = ["backend", "start-up imports (s)", *[f"load {family} (ms)" for family in FAMILIES]]
    print(markdown_table(header, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per path")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per path")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--models-dir", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        run = (
            onnx_worker
            if options.backend == ONNX_RUNTIME
            else functools.partial(worker, options.backend)
        )
        print(json.dumps(run(options.warmup, options.calls, options.models_dir)))
        return 0
    if options.calls < 200:
        parser.error(f"--calls must be >= 200 for a stable p99. Received: {options.calls}")
    script = Path(__file__).resolve()
    machine = machine_info(options.threads)
    backends = options.backends or installed_backends()
    if EXPORT_BACKEND in backends:  # the onnxruntime worker times the TensorFlow worker's exports
        backends = [*backends, ONNX_RUNTIME]
    measured = {}
    with tempfile.TemporaryDirectory() as models_dir:
        arguments = [
            *("--calls", str(options.calls), "--warmup", str(options.warmup)),
            *("--models-dir", models_dir),
        ]
        for backend in backends:
            started = time.perf_counter()
            try:
                measured[backend] = run_worker(
                    script, backend, arguments, options.threads, timeout=WORKER_TIMEOUT_S
                )
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                measured[backend] = {"error": str(error)[-2000:], "results": {}}
            print(f"{backend}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    comparison = onnx_against_keras(measured)
    _print_tables(measured, comparison)
    for backend, report in measured.items():
        if "error" in report:
            print(f"{backend} FAILED: {report['error'].splitlines()[-1]}")
        for family, export in report.get("onnx_exports", {}).items():
            if "error" in export:
                print(f"ONNX export of {family} FAILED: {export['error']}")
    settings = {
        "lookback": LOOKBACK,
        "features": FEATURES,
        "units": UNITS,
        "horizon": HORIZON,
        "batch": 1,
        "warmup_calls": options.warmup,
        "timed_calls": options.calls,
    }
    payload = {
        "machine": machine,
        "settings": settings,
        "backends": measured,
        "onnx_against_fastest_keras": comparison,
    }
    path = write_results("latency", payload)
    print(f"Results written to {path}")
    load = machine["load_average_1m_at_start"], machine["load_average_1m_at_end"]
    print(f"Load average (1 min): {load[0]} at the start, {load[1]} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
