"""Training speed of fincast's forecasters on each Keras backend, against the CPU's ceiling.

Each backend trains in its own subprocess (Keras fixes its backend per process), one
after another, all with the same thread count. A contender builds a fincast model
(``build_lstm`` / ``build_mlp``: lookback 60, 5 features, 64 units, horizon 1),
trains it through ``fincast.fitting.fit.train_model`` (Adam, MSE, batch 256) for one
warm-up epoch plus ``--epochs`` timed epochs on random data, and reports:

* samples/s from the median timed epoch;
* compile overhead: the warm-up epoch (tracing, XLA/graph compilation) minus the median;
* achieved GFLOP/s, with LSTM training costed at ``24*T*H*(I+H)`` FLOP per sample and
  an MLP at ``6 * (weights of its Dense layers)``, against a float32 numpy 4096x4096
  matmul measured in the same run on the same threads (the practical ceiling).

On every backend the same forecaster built from stock ``keras.layers.LSTM`` (Keras'
own LSTM: a graph loop on TensorFlow, a ``scan`` on JAX, a Python loop on PyTorch) is
timed next to fincast's LSTM, whose fused paths it replaces: TensorFlow's ``BlockLSTM``
op in batch shards, JAX's batch over one CPU device per core (``select_backend`` sets
them up, as in fincast's commands), PyTorch's fused kernel. On TensorFlow the LSTM also
trains with ``train_model(..., jit_compile=True)`` (``training.jit_compile=true``: XLA,
under which fincast's LSTM runs Keras' loop, compiled).

On the torch backend fincast's LSTM is also timed with ``FINCAST_TORCH_LSTM_SHARDS=1``
(PyTorch's fused kernel called once per batch over every thread, as before the batch
was split into one single-threaded shard per thread), and a plain ``torch.nn.LSTM``
loop (PyTorch's fused CPU kernel, no Keras); both run first in their worker, before
fincast's sharded training has glibc keep freed memory for the rest of the process
(``lstm_shards_fastpath.keep_freed_memory``), as they would in a process of their own.
With ``--peer-python`` (``make bench`` passes ``.venv-bench/bin/python``) the peers of
``peers.py`` run in that venv on the same data and threads: Darts'
``BlockRNNModel(LSTM)``, a plain PyTorch loop and a ``lax.scan`` JAX LSTM; every LSTM's
samples/s is then also given as a ratio to Darts' in the same run.

``--size large`` (lookback 120, 16 features, 128 units) is the issue's larger size; its
results go to ``benchmarks/results/train_speed_large.json``; a run on fewer threads than
the machine's cores adds ``_<threads>thread`` (``train_speed_1thread.json``).

    .venv/bin/python benchmarks/train_speed.py [--samples 3072] [--epochs 5] [--threads 2]
        [--peer-python .venv-bench/bin/python] [--size large]

Prints a markdown table and writes ``benchmarks/results/train_speed.json``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # the benchmarks folder is not a package
    installed_backends,
    machine_info,
    markdown_table,
    run_worker,
    write_results,
)

# (lookback, features, units): the reference size and one larger size. The size
# reaches the worker subprocesses (and peers.py) through FINCAST_BENCH_SIZE.
SIZES = {"reference": (60, 5, 64), "large": (120, 16, 128)}
SIZE = os.environ.get("FINCAST_BENCH_SIZE", "reference")
(LOOKBACK, FEATURES, UNITS), HORIZON, BATCH = SIZES[SIZE], 1, 256
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
FLOP_PER_SAMPLE["keras.layers.LSTM"] = FLOP_PER_SAMPLE["torch.nn.LSTM"] = FLOP_PER_SAMPLE["lstm"]
XLA_LSTM = "lstm, jit_compile=True"
ONE_KERNEL_LSTM = "lstm, FINCAST_TORCH_LSTM_SHARDS=1"  # before the sharded kernel
PEERS_SCRIPT = Path(__file__).resolve().with_name("peers.py")
PEER_LABELS = {
    "darts": "Darts BlockRNNModel(LSTM)",
    "torch": "plain torch.nn.LSTM loop",
    "jax": "JAX lax.scan LSTM + optax",
}
DEFAULT_PEER_PYTHON = Path(__file__).resolve().parents[1] / ".venv-bench" / "bin" / "python"
PEERS = {
    "keras.layers.LSTM": "stock Keras LSTM peer",
    "torch.nn.LSTM": "plain PyTorch peer",
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
        "samples_per_epoch": samples,
        "median_epoch_s": round(steady, 4),
        "first_epoch_s": round(epoch_seconds[0], 4),
        "compile_overhead_s": round(epoch_seconds[0] - steady, 4),
        "epoch_seconds": [round(value, 4) for value in epoch_seconds],
        "gflops": round(samples_per_second * FLOP_PER_SAMPLE[family] / 1e9, 3),
    }


def _stock_lstm(scaling: Any) -> Any:
    """The same forecaster from stock Keras layers only (no fincast layers)."""
    import keras

    inputs = keras.Input((LOOKBACK, FEATURES))
    hidden = keras.layers.Normalization(
        axis=-1, mean=scaling.input_mean, variance=scaling.input_variance
    )(inputs)
    hidden = keras.layers.LSTM(UNITS)(hidden)
    return keras.Model(inputs, keras.layers.Dense(HORIZON)(hidden))


def keras_contender(
    family: str, max_samples: int, epochs: int, epoch_target_s: float, jit_compile: bool = False
) -> dict[str, Any]:
    """Train a fincast model through ``train_model``; time every epoch.

    A short probe fit (2 epochs of 2 batches) sizes the timed run so that one epoch
    takes about ``epoch_target_s`` (at most ``max_samples`` windows, whole batches):
    a slow contender gets fewer windows per epoch, never fewer epochs.
    """
    import keras

    from fincast.fitting.fit import set_seed, train_model
    from fincast.models.builders import build_lstm, build_mlp, fit_scaling

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._started = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._started)

    inputs, targets = _random_data(max_samples)
    set_seed(0)
    build = functools.partial(
        build_lstm if family == "lstm" else build_mlp,
        lookback=LOOKBACK,
        num_features=FEATURES,
        horizon=HORIZON,
        scaling=fit_scaling(inputs, targets),
    )
    if family == "keras.layers.LSTM":
        model = _stock_lstm(build.keywords["scaling"])
    else:
        model = build(units=UNITS) if family == "lstm" else build(units=MLP_UNITS)
    fit = functools.partial(train_model, jit_compile=True if jit_compile else "auto")
    probe, head = EpochTimer(), 2 * BATCH
    fit(
        model, (inputs[:head], targets[:head]), epochs=2, batch_size=BATCH, verbose=0,
        callbacks=[probe],
    )  # fmt: skip
    affordable = head / probe.seconds[1] * epoch_target_s
    samples = max(head, min(max_samples, int(affordable)) // BATCH * BATCH)
    timer = EpochTimer()
    fit(
        model, (inputs[:samples], targets[:samples]), epochs=1 + epochs, batch_size=BATCH,
        verbose=0, callbacks=[timer],
    )  # fmt: skip
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


def worker(
    backend: str, families: list[str], samples: int, epochs: int, epoch_target_s: float
) -> dict[str, Any]:
    """Everything one subprocess measures on ``backend`` (``numpy``: the matmul ceiling)."""
    if backend == "numpy":
        return {"matmul": numpy_matmul_gflops()}
    from fincast.backend import select_backend

    select_backend(backend)  # as fincast's commands: on JAX, one CPU device per core
    import keras

    results: dict[str, Any] = {}
    if backend == "torch" and "lstm" in families:
        # first, before fincast's sharded training tells glibc to keep freed memory (for
        # the rest of the process): these two run as they would in a process of their own
        results["torch.nn.LSTM"] = torch_reference_lstm(samples, epochs)
        with mock.patch.dict(os.environ, {"FINCAST_TORCH_LSTM_SHARDS": "1"}):  # one call
            results[ONE_KERNEL_LSTM] = keras_contender("lstm", samples, epochs, epoch_target_s)
    results |= {
        family: keras_contender(
            family,
            samples * (MLP_SAMPLE_FACTOR if family == "mlp" else 1),
            epochs,
            epoch_target_s,
        )
        for family in families
    }
    if backend == "torch" and "lstm" in families:
        import torch

        results["keras.layers.LSTM"] = keras_contender(
            "keras.layers.LSTM", samples, epochs, epoch_target_s
        )
        return {"backend": "torch", "torch_threads": torch.get_num_threads(), "results": results}
    if "lstm" in families:  # Keras' own LSTM: what fincast's LSTM ran before its fast paths
        results["keras.layers.LSTM"] = keras_contender(
            "keras.layers.LSTM", samples, epochs, epoch_target_s
        )
    if backend == "tensorflow" and "lstm" in families:  # XLA: Keras' loop, compiled
        results[XLA_LSTM] = keras_contender("lstm", samples, epochs, epoch_target_s, True)
    devices = len(keras.distribution.list_devices()) if backend == "jax" else None
    return {"backend": keras.backend.backend(), "jax_devices": devices, "results": results}


def run_peers(python: Path, samples: int, epochs: int, threads: int) -> dict[str, Any]:
    """Every peer of ``peers.py`` under ``python`` (the peers' venv), on the same threads."""
    results: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    arguments = ["--samples", str(samples), "--epochs", str(epochs)]
    for peer, label in PEER_LABELS.items():
        started = time.perf_counter()
        try:
            report = run_worker(PEERS_SCRIPT, peer, arguments, threads, python=python)
            results[label], versions = report["results"][peer], report["versions"]
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            results[label] = {"error": str(error)[-2000:]}
        print(f"peer {peer}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return {"backend": f"peers ({python})", "versions": versions, "results": results}


def ratios_to_darts(measured: dict[str, Any]) -> dict[str, float]:
    """Every LSTM contender's samples/s over Darts' in the same run (empty without Darts)."""
    darts = measured.get("peers", {}).get("results", {}).get(PEER_LABELS["darts"], {})
    if "samples_per_second" not in darts:
        return {}
    return {
        f"{backend}: {name}": round(entry["samples_per_second"] / darts["samples_per_second"], 2)
        for backend, report in measured.items()
        for name, entry in report["results"].items()
        if "samples_per_second" in entry and name != "mlp"
    }


def _collect(mappings: list[dict[str, float]]) -> dict[str, list[float]]:
    collected: dict[str, list[float]] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            collected.setdefault(key, []).append(value)
    return collected


def median_of_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The first round's reports, each contender's samples/s and GFLOP/s the rounds' median."""
    merged = json.loads(json.dumps(rounds[0]))
    for backend, report in merged.items():
        for name, entry in report["results"].items():
            if "samples_per_second" not in entry:
                continue
            values = [
                one[backend]["results"].get(name, {}).get("samples_per_second") for one in rounds
            ]
            values = [value for value in values if value is not None]
            median = statistics.median(values)
            entry["gflops"] = round(entry["gflops"] * median / entry["samples_per_second"], 3)
            entry["samples_per_second"] = round(median, 1)
            entry["rounds_samples_per_second"] = values
    return merged


def _rows(measured: dict[str, Any], peak: float) -> list[list[object]]:
    rows: list[list[object]] = []
    for backend, report in measured.items():
        for name, entry in report["results"].items():
            if "samples_per_second" not in entry:
                continue
            label = f"{name} ({PEERS[name]})" if name in PEERS else name
            rows.append(
                [
                    backend,
                    label,
                    f"{entry['samples_per_second']:,.0f}",
                    f"{entry['samples_per_epoch']:,}",
                    f"{max(entry['compile_overhead_s'], 0.0):.2f}",  # < 0: noise, no compile
                    f"{entry['gflops']:.2f}",
                    f"{100 * entry['gflops'] / peak:.1f}%",
                ]
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=3072, help="most LSTM windows per epoch")
    parser.add_argument(
        "--epoch-seconds", type=float, default=4.0, help="fewer windows if an epoch takes longer"
    )
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs after a warm-up")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of every contender, alternating order"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=DEFAULT_PEER_PYTHON if DEFAULT_PEER_PYTHON.exists() else None,
        help="interpreter of the peers' venv (make bench creates .venv-bench)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument(
        "--size", choices=SIZES, default=None, help="(lookback, features, units): " + str(SIZES)
    )
    options = parser.parse_args(argv)
    if options.size and options.size != SIZE:  # constants are read at import: start again
        environment = {**os.environ, "FINCAST_BENCH_SIZE": options.size}
        arguments = sys.argv[1:] if argv is None else argv
        return subprocess.call([sys.executable, __file__, *arguments], env=environment)
    if options.worker:
        result = worker(
            options.backend,
            options.families,
            options.samples,
            options.epochs,
            options.epoch_seconds,
        )
        print(json.dumps(result))
        return 0
    if options.epochs < 5:
        parser.error(f"--epochs must be >= 5 for a meaningful median. Received: {options.epochs}")
    script = Path(__file__).resolve()
    machine = machine_info(options.threads)
    arguments = ["--samples", str(options.samples), "--epochs", str(options.epochs)]
    arguments += ["--epoch-seconds", str(options.epoch_seconds), "--families", *options.families]

    def run(backend: str) -> dict[str, Any]:
        return run_worker(script, backend, arguments, options.threads)

    peak = run("numpy")["matmul"]["gflops"]
    contenders = list(options.backends or installed_backends())
    if options.peer_python and "lstm" in options.families:
        contenders.append("peers")
    else:
        print("Peers skipped: run `make bench` (it creates .venv-bench).", file=sys.stderr)
    rounds: list[dict[str, Any]] = []
    for index in range(options.rounds):  # every other round in reverse: drift cancels
        measured = {}
        for backend in contenders if index % 2 == 0 else contenders[::-1]:
            started = time.perf_counter()
            try:
                measured[backend] = (
                    run_peers(options.peer_python, options.samples, options.epochs, options.threads)
                    if backend == "peers"
                    else run(backend)
                )
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                measured[backend] = {"error": str(error)[-2000:], "results": {}}
            print(f"{backend}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        rounds.append({backend: measured[backend] for backend in contenders})
    measured = median_of_rounds(rounds)
    ratios = {
        name: round(statistics.median(values), 2)
        for name, values in _collect([ratios_to_darts(one) for one in rounds]).items()
    }
    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    header = ["backend", "model", "samples/s", "windows/epoch", "compile (s)", "GFLOP/s"]
    header.append(f"of matmul peak ({peak:.0f} GFLOP/s)")
    print(markdown_table(header, _rows(measured, peak)))
    if ratios:
        print(f"\nLSTM samples/s relative to Darts in the same run (median of {len(rounds)}):")
        rows = [[name, f"{ratio:.2f}"] for name, ratio in ratios.items()]
        print(markdown_table(["contender", "x Darts"], rows))
    for backend, report in measured.items():
        if "error" in report:
            print(f"{backend} FAILED: {report['error'].splitlines()[-1]}")
    settings = {
        "size": SIZE,
        "lookback": LOOKBACK,
        "features": FEATURES,
        "units": UNITS,
        "horizon": HORIZON,
        "batch_size": BATCH,
        "max_samples_per_epoch": {
            "lstm": options.samples,
            "mlp": options.samples * MLP_SAMPLE_FACTOR,
        },
        "epoch_target_s": options.epoch_seconds,
        "timed_epochs": options.epochs,
        "rounds": options.rounds,
        "flop_per_sample": FLOP_PER_SAMPLE,
    }
    payload = {"machine": machine, "settings": settings, "numpy_matmul_gflops": peak}
    name = "train_speed" if SIZE == "reference" else f"train_speed_{SIZE}"
    if options.threads != (os.cpu_count() or 1):
        name += f"_{options.threads}thread"  # e.g. train_speed_1thread.json
    path = write_results(name, {**payload, "backends": measured, "ratio_to_darts": ratios})
    print(f"Results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
