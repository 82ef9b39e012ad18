"""How long ``fincast-forecast ... output=json`` takes, start to end, next to ``import keras``.

A forecast from the command line is mostly start-up: the interpreter, Keras and its
backend, Hydra, the model, the bars, one predict. Keras on the backend is the floor
(a ``.keras`` model needs it); this measures how far above it the command is.

In a fresh directory the script trains the default model once (``fincast-train
training.epochs=1``, registered as the champion in a local ``mlflow.db``), then, for
each backend and ``--repeats`` rounds, runs one after another:

* ``python -c "import keras"`` with ``KERAS_BACKEND`` set (the floor);
* ``fincast-forecast output=json backend=<b>``: the champion, from the MLflow registry;
* ``fincast-forecast output=json backend=<b> model_uri=<the .keras file>``: no MLflow.

Each is timed by wall clock from start to exit, with its peak resident memory (the
child's ``ru_maxrss`` from ``os.wait4``). The table gives the median of the rounds and
each command's time above the floor of the same round's median.

    .venv/bin/python benchmarks/forecast_startup.py [--repeats 3] [--backends jax tensorflow torch]

Writes ``benchmarks/results/forecast_startup.json``; the machine is shared, so the
load average at start and end is recorded with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import installed_backends, machine_info, markdown_table, write_results

BIN = Path(sys.executable).parent
TARGET_SECONDS = 1.5  # issue 19: the whole command within 1.5 s of a bare import keras


def timed_run(command: list[str], cwd: Path, environment: dict[str, str]) -> dict[str, float]:
    """Run ``command`` to its end: wall seconds and peak RSS in MiB; fail on an error."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=stdout, stderr=stderr)
        # os.wait4 reports this child's own peak memory (getrusage pools every child)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            stderr.seek(0)
            raise RuntimeError(
                f"{' '.join(command)} exited with {code}:\n{stderr.read().decode()[-3000:]}"
            )
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024}


def train_champion(workdir: Path) -> Path:
    """Train and register the default model once; return its ``.keras`` file."""
    completed = subprocess.run(
        [str(BIN / "fincast-train"), "backend=jax", "training.epochs=1"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"fincast-train failed:\n{completed.stderr[-3000:]}")
    (model_file,) = sorted(workdir.glob("models/*/*.keras"))
    return model_file


def commands(backend: str, model_file: Path) -> dict[str, list[str]]:
    """The three commands timed on ``backend``, by name."""
    forecast = [str(BIN / "fincast-forecast"), "output=json", f"backend={backend}"]
    return {
        "import keras": [sys.executable, "-c", "import keras"],
        "champion (MLflow registry)": forecast,
        ".keras file": [*forecast, f"model_uri={model_file}"],
    }


def measure(backend: str, model_file: Path, workdir: Path, repeats: int) -> dict[str, Any]:
    """Median seconds and peak RSS of each command on ``backend`` over ``repeats`` rounds."""
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(repeats):
        for name, command in commands(backend, model_file).items():
            runs.setdefault(name, []).append(timed_run(command, workdir, environment))
    summary: dict[str, Any] = {}
    for name, measured in runs.items():
        summary[name] = {
            "median_seconds": round(statistics.median(run["seconds"] for run in measured), 2),
            "median_peak_rss_mib": round(
                statistics.median(run["peak_rss_mib"] for run in measured)
            ),
            "seconds": [round(run["seconds"], 2) for run in measured],
        }
    floor = summary["import keras"]["median_seconds"]
    for entry in summary.values():
        entry["above_import_keras_seconds"] = round(entry["median_seconds"] - floor, 2)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=installed_backends())
    parser.add_argument(
        "--output", default="forecast_startup", help="results file name (no suffix)"
    )
    arguments = parser.parse_args()
    info = machine_info(threads=os.cpu_count() or 1)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fincast-forecast-startup-") as directory:
        workdir = Path(directory)
        model_file = train_champion(workdir)
        for backend in arguments.backends:
            results[backend] = measure(backend, model_file, workdir, arguments.repeats)
            print(f"{backend}: done (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    info["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    rows = [
        [
            backend,
            name,
            f"{entry['median_seconds']:.2f} s",
            "" if name == "import keras" else f"{entry['above_import_keras_seconds']:+.2f} s",
            f"{entry['median_peak_rss_mib']:,} MiB",
        ]
        for backend, summary in results.items()
        for name, entry in summary.items()
    ]
    print(
        markdown_table(
            ["backend", "command", "median wall", "above import keras", "peak RSS"], rows
        )
    )
    print(
        f"\nload average (1 min): {info['load_average_1m_at_start']} at start, "
        f"{info['load_average_1m_at_end']} at end; {arguments.repeats} rounds; "
        f"target: within {TARGET_SECONDS} s of import keras"
    )
    payload = {
        "machine": info,
        "repeats": arguments.repeats,
        "target_above_import_keras_seconds": TARGET_SECONDS,
        "results": results,
    }
    path = write_results(arguments.output, payload)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
