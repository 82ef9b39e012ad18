"""Single-window forecast latency of fincast's forecasters on each Keras backend.

Each backend runs in its own subprocess (Keras fixes its backend per process), one
after another, all with the same thread count. A contender builds a fincast model
(lookback 60, 5 features, 64 units, horizon 5), saves it as a ``.keras`` file with its
card, loads it back through fincast's serving path (``load_forecaster``, safe mode)
and times one window ``(1, 60, 5)`` through:

* ``model.predict(window, verbose=0)``: Keras' general entry point;
* ``model.predict_on_batch(window)``: Keras' compiled path, no data pipeline;
* ``Forecaster.predict_window(window)``: what fincast's CLI and dashboard call, the
  model compiled for the backend by ``fincast.serving.fast_predict`` on its first call.

Each path's first call (where it compiles) is timed apart, then ``--warmup`` untimed
calls, then ``--calls`` timed ones (p50, p99).

    .venv/bin/python benchmarks/latency.py [--calls 300] [--threads 2]

Prints a markdown table and writes ``benchmarks/results/latency.json``.
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
FAMILIES = ("lstm", "mlp")
PATHS = ("model.predict", "model.predict_on_batch", "Forecaster.predict_window")


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


def _saved_forecaster(family: str, directory: Path) -> Any:
    """Build, save (with a card) and load back a forecaster, as fincast serves one."""
    import numpy as np

    from fincast.fitting.fit import save_model, set_seed
    from fincast.models.builders import build_lstm, build_mlp, fit_scaling
    from fincast.serving.forecast import load_forecaster

    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(256, LOOKBACK, FEATURES)).astype("float32")
    targets = rng.normal(size=(256, HORIZON)).astype("float32")
    set_seed(0)
    build = functools.partial(
        build_lstm if family == "lstm" else build_mlp,
        lookback=LOOKBACK,
        num_features=FEATURES,
        horizon=HORIZON,
        scaling=fit_scaling(inputs, targets),
    )
    model = build(units=UNITS) if family == "lstm" else build(units=(UNITS, UNITS))
    path = save_model(model, directory / f"{family}.keras")
    card = {
        "features": [f"feature_{index}" for index in range(FEATURES)],
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "tickers": ["BENCH"],
    }
    path.with_suffix(".json").write_text(json.dumps(card))
    return load_forecaster(str(path))


def worker(backend: str, warmup: int, calls: int) -> dict[str, Any]:
    """Latency of every path for every family on this process's backend."""
    import keras
    import numpy as np

    window = np.random.default_rng(1).normal(size=(1, LOOKBACK, FEATURES)).astype("float32")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        for family in FAMILIES:
            forecaster = _saved_forecaster(family, Path(directory))
            paths: dict[str, Callable[[], Any]] = {
                "model.predict": functools.partial(forecaster.model.predict, window, verbose=0),
                "model.predict_on_batch": functools.partial(
                    forecaster.model.predict_on_batch, window
                ),
                "Forecaster.predict_window": functools.partial(forecaster.predict_window, window),
            }
            results[family] = {
                name: _timings_ms(call, warmup, calls) for name, call in paths.items()
            }
    return {"backend": keras.backend.backend(), "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per path")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per path")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        print(json.dumps(worker(options.backend, options.warmup, options.calls)))
        return 0
    if options.calls < 200:
        parser.error(f"--calls must be >= 200 for a stable p99. Received: {options.calls}")
    script = Path(__file__).resolve()
    machine = machine_info(options.threads)
    arguments = ["--calls", str(options.calls), "--warmup", str(options.warmup)]
    measured = {}
    for backend in options.backends or installed_backends():
        started = time.perf_counter()
        try:
            measured[backend] = run_worker(script, backend, arguments, options.threads)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            measured[backend] = {"error": str(error)[-2000:], "results": {}}
        print(f"{backend}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    rows = [
        [backend, family, path, f"{entry['p50_ms']:.2f}", f"{entry['p99_ms']:.2f}", first]
        for backend, report in measured.items()
        for family, paths in report["results"].items()
        for path, entry in paths.items()
        for first in [f"{entry['first_call_ms']:.0f}"]
    ]
    header = ["backend", "model", "path", "p50 (ms)", "p99 (ms)", "first call (ms)"]
    print(markdown_table(header, rows))
    for backend, report in measured.items():
        if "error" in report:
            print(f"{backend} FAILED: {report['error'].splitlines()[-1]}")
    settings = {
        "lookback": LOOKBACK,
        "features": FEATURES,
        "units": UNITS,
        "horizon": HORIZON,
        "batch": 1,
        "warmup_calls": options.warmup,
        "timed_calls": options.calls,
    }
    path = write_results(
        "latency", {"machine": machine, "settings": settings, "backends": measured}
    )
    print(f"Results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
