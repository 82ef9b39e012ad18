"""Training speed of fincast's forecasters on each Keras backend, against the CPU's ceiling.

Each backend trains in its own subprocess (Keras fixes its backend per process), one
after another, all with the same thread count. A contender builds a fincast model
(``build_lstm`` / ``build_mlp``: lookback 60, 5 features, 64 units, horizon 1),
trains it through ``fincast.training.fit.train_model`` (Adam, MSE, batch 256) for one
warm-up epoch plus ``--epochs`` timed epochs on random data, and reports:

* samples/s from the median timed epoch;
* compile overhead: the warm-up epoch (tracing, XLA/graph compilation) minus the median;
* achieved GFLOP/s, with LSTM training costed at ``24*T*H*(I+H)`` FLOP per sample and
  an MLP at ``6 * (weights of its Dense layers)``, against a float32 numpy 4096x4096
  matmul measured in the same run on the same threads (the practical ceiling).

On the torch backend a plain ``torch.nn.LSTM`` loop (PyTorch's fused CPU kernel, not
Keras) is timed the same way as a reference peer.

    .venv/bin/python benchmarks/train_speed.py [--samples 3072] [--epochs 5] [--threads 2]

Prints a markdown table and writes ``benchmarks/results/train_speed.json``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import statistics
import sys
import time
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

LOOKBACK, FEATURES, UNITS, HORIZON, BATCH = 60, 5, 64, 1, 256
MLP_UNITS = (UNITS, UNITS)
FAMILIES = ("lstm", "mlp")
MLP_SAMPLE_FACTOR = 8  # an MLP epoch is ~100x faster; more windows keep its epochs >> 10 ms


def lstm_flop_per_sample(steps: int, hidden: int, inputs: int) -> int:
    """Training FLOP per sample of one LSTM layer (forward + backward): ``24*T*H*(I+H)``."""
    return 24 * steps * hidden * (inputs + hidden)


def mlp_flop_per_sample(widths: tuple[int, ...]) -> int:
    """Training FLOP per sample of a Dense stack: 2 forward + 4 backward per weight."""
    return 6 * sum(fan_in * fan_out for fan_in, fan_out in itertools.pairwise(widths))


FLOP_PER_SAMPLE = {
    "lstm": lstm_flop_per_sample(LOOKBACK, UNITS, FEATURES) + 6 * UNITS * HORIZON,
    "mlp": mlp_flop_per_sample((LOOKBACK * FEATURES, *MLP_UNITS, HORIZON)),
}


def _random_data(samples: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(samples, LOOKBACK, FEATURES)).astype("float32")
    targets = (0.1 * inputs[:, -1, :HORIZON] + rng.normal(size=(samples, HORIZON))).astype(
        "float32"
    )
    return inputs, targets


def _epoch_summary(epoch_seconds: list[float], samples: int, family: str) -> dict[str, Any]:
    steady = statistics.median(epoch_seconds[1:])
    samples_per_second = samples / steady
    return {
        "samples_per_second": round(samples_per_second, 1),
        "median_epoch_s": round(steady, 4),
        "first_epoch_s": round(epoch_seconds[0], 4),
        "compile_overhead_s": round(epoch_seconds[0] - steady, 4),
        "epoch_seconds": [round(value, 4) for value in epoch_seconds],
        "gflops": round(samples_per_second * FLOP_PER_SAMPLE[family] / 1e9, 3),
    }


def keras_contender(family: str, samples: int, epochs: int) -> dict[str, Any]:
    """Train a fincast model through ``train_model``; time every epoch."""
    import keras

    from fincast.models.builders import build_lstm, build_mlp, fit_scaling
    from fincast.training.fit import set_seed, train_model

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._started = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._started)

    inputs, targets = _random_data(samples)
    set_seed(0)
    build = functools.partial(
        build_lstm if family == "lstm" else build_mlp,
        lookback=LOOKBACK,
        num_features=FEATURES,
        horizon=HORIZON,
        scaling=fit_scaling(inputs, targets),
    )
    model = build(units=UNITS) if family == "lstm" else build(units=MLP_UNITS)
    timer = EpochTimer()
    train_model(
        model, (inputs, targets), epochs=1 + epochs, batch_size=BATCH, verbose=0, callbacks=[timer]
    )
    return _epoch_summary(timer.seconds, samples, family)


def torch_reference_lstm(samples: int, epochs: int) -> dict[str, Any]:
    """The peer: plain ``torch.nn.LSTM`` + ``Linear``, Adam, MSE, the same batches."""
    import torch

    inputs, targets = (torch.from_numpy(array) for array in _random_data(samples))
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
    head = torch.nn.Linear(UNITS, HORIZON)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
    epoch_seconds = []
    for _ in range(1 + epochs):
        started = time.perf_counter()
        order = torch.randperm(samples)
        for start in range(0, samples, BATCH):
            batch = order[start : start + BATCH]
            optimizer.zero_grad()
            hidden = lstm(inputs[batch])[0][:, -1]
            loss = torch.nn.functional.mse_loss(head(hidden), targets[batch])
            loss.backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - started)
    return _epoch_summary(epoch_seconds, samples, "lstm")


def numpy_matmul_gflops(size: int = 4096, runs: int = 5) -> dict[str, Any]:
    """Median float32 ``size x size`` matmul throughput after one warm-up."""
    import numpy as np

    rng = np.random.default_rng(0)
    left, right = (rng.standard_normal((size, size), dtype="float32") for _ in range(2))
    np.matmul(left, right)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        np.matmul(left, right)
        seconds.append(time.perf_counter() - started)
    return {"size": size, "gflops": round(2 * size**3 / statistics.median(seconds) / 1e9, 1)}


def worker(backend: str, families: list[str], samples: int, epochs: int) -> dict[str, Any]:
    """Everything one subprocess measures on ``backend`` (``numpy``: the matmul ceiling)."""
    if backend == "numpy":
        return {"matmul": numpy_matmul_gflops()}
    import keras

    results = {
        family: keras_contender(
            family, samples * (MLP_SAMPLE_FACTOR if family == "mlp" else 1), epochs
        )
        for family in families
    }
    if backend == "torch" and "lstm" in families:
        import torch

        results["torch.nn.LSTM"] = torch_reference_lstm(samples, epochs)
        return {"backend": "torch", "torch_threads": torch.get_num_threads(), "results": results}
    return {"backend": keras.backend.backend(), "results": results}


def _rows(measured: dict[str, Any], peak: float) -> list[list[object]]:
    rows: list[list[object]] = []
    for backend, report in measured.items():
        for name, entry in report["results"].items():
            label = name if name in FAMILIES else f"{name} (plain PyTorch peer)"
            rows.append(
                [
                    backend,
                    label,
                    f"{entry['samples_per_second']:,.0f}",
                    f"{entry['median_epoch_s']:.3f}",
                    f"{entry['compile_overhead_s']:.2f}",
                    f"{entry['gflops']:.2f}",
                    f"{100 * entry['gflops'] / peak:.1f}%",
                ]
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=3072, help="LSTM windows per epoch")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs after a warm-up")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        result = worker(options.backend, options.families, options.samples, options.epochs)
        print(json.dumps(result))
        return 0
    if options.epochs < 5:
        parser.error(f"--epochs must be >= 5 for a meaningful median. Received: {options.epochs}")
    script = Path(__file__).resolve()
    machine = machine_info(options.threads)
    arguments = ["--samples", str(options.samples), "--epochs", str(options.epochs)]
    arguments += ["--families", *options.families]

    def run(backend: str) -> dict[str, Any]:
        return run_worker(script, backend, arguments, options.threads)

    peak = run("numpy")["matmul"]["gflops"]
    measured = {}
    for backend in options.backends or installed_backends():
        started = time.perf_counter()
        measured[backend] = run(backend)
        print(f"{backend}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    header = ["backend", "model", "samples/s", "median epoch (s)", "compile (s)", "GFLOP/s"]
    header.append(f"of matmul peak ({peak:.0f} GFLOP/s)")
    print(markdown_table(header, _rows(measured, peak)))
    settings = {
        "lookback": LOOKBACK,
        "features": FEATURES,
        "units": UNITS,
        "horizon": HORIZON,
        "batch_size": BATCH,
        "samples_per_epoch": {"lstm": options.samples, "mlp": options.samples * MLP_SAMPLE_FACTOR},
        "timed_epochs": options.epochs,
        "flop_per_sample": FLOP_PER_SAMPLE,
    }
    payload = {"machine": machine, "settings": settings, "numpy_matmul_gflops": peak}
    path = write_results("train_speed", {**payload, "backends": measured})
    print(f"Results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
