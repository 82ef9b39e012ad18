"""Shared plumbing for fincast's benchmarks: one subprocess per backend, same threads, JSON out.

Keras fixes its backend once per process, so each contender runs in its own
subprocess with ``KERAS_BACKEND`` set, the same thread count for every framework,
and one JSON object on the last line of its stdout.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BACKENDS = ("jax", "tensorflow", "torch")


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that cap every framework (and BLAS) at ``threads`` threads."""
    count = str(threads)
    return {
        "OMP_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        # what fincast's select_backend sets on a CPU (one single-threaded op per core),
        # with ``threads`` in place of the cores: ops side by side (fincast's LSTM
        # shards), each on one thread
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": count,
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true",
        # fincast's commands give JAX one CPU device per core; here one per thread
        "FINCAST_JAX_HOST_DEVICES": count,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info(threads: int) -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine was."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            name: _version(name) for name in ("keras", "jax", "tensorflow", "torch", "numpy")
        },
    }


def installed_backends() -> list[str]:
    """Backends whose framework is installed (without importing any of them)."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def run_worker(
    script: Path,
    backend: str,
    arguments: Sequence[str],
    threads: int,
    timeout: float = 600,
    python: str | Path | None = None,
) -> dict[str, Any]:
    """Run ``script --worker ...`` on ``backend``; return the JSON of its last stdout line.

    ``python``: the interpreter to run it with (default: this one), e.g. the peers' venv.
    """
    environment = {**os.environ, **thread_environment(threads), "KERAS_BACKEND": backend}
    completed = subprocess.run(
        [str(python or sys.executable), str(script), "--worker", "--backend", backend, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{script.name} on {backend} exited with {completed.returncode}:\n"
            f"{completed.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as ``benchmarks/results/<name>.json`` and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-markdown table (also readable in a terminal)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
