"""The training-speed peers, run in the benchmark virtualenv ``.venv-bench`` (not fincast's).

``make bench`` creates ``.venv-bench`` with the peers' packages
(``benchmarks/requirements-peers.txt``: Darts, JAX + optax, and through Darts the CPU
build of PyTorch pinned by ``constraints.txt``); none of them is a fincast dependency.
``train_speed.py`` runs this script once per peer, in a subprocess with the same
thread caps as fincast's contenders, on the same random windows (lookback 60,
5 features, horizon 1, batch 256, Adam 1e-3, MSE):

* ``darts``: ``BlockRNNModel(model="LSTM", hidden_dim=64)`` trained by Darts' own
  ``fit`` (PyTorch Lightning around PyTorch's fused LSTM kernel), on a 5-component
  series whose sliding windows give the same number of training samples;
* ``torch``: a plain ``torch.nn.LSTM`` + ``Linear`` loop (``train_speed.torch_reference_lstm``);
* ``jax``: a hand-written ``lax.scan`` LSTM + Dense head, ``optax.adam``, one
  ``jax.jit`` train step.

    .venv-bench/bin/python benchmarks/peers.py --worker --backend darts --samples 3072

prints one JSON object (the epoch summary, as ``train_speed.py`` reports its own).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_speed import (  # the benchmarks folder is not a package
    BATCH,
    FEATURES,
    HORIZON,
    LOOKBACK,
    UNITS,
    _epoch_summary,
    _random_data,
    torch_reference_lstm,
)

PEERS = ("darts", "torch", "jax")
LEARNING_RATE = 1e-3


def darts_peer(samples: int, epochs: int) -> dict[str, Any]:
    """Darts' BlockRNNModel(LSTM) on a series with ``samples`` training windows."""
    import logging

    import numpy as np
    import pytorch_lightning as pl
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._started = 0.0

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self._started = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.seconds.append(time.perf_counter() - self._started)

    length = samples + LOOKBACK + HORIZON - 1  # sliding windows: exactly `samples` of them
    values = np.random.default_rng(0).normal(size=(length, FEATURES)).astype("float32")
    target = TimeSeries.from_values(values[:, :1])
    covariates = TimeSeries.from_values(values[:, 1:])  # target + 4 covariates = 5 features
    timer = EpochTimer()
    model = BlockRNNModel(
        model="LSTM",
        input_chunk_length=LOOKBACK,
        output_chunk_length=HORIZON,
        hidden_dim=UNITS,
        n_rnn_layers=1,
        batch_size=BATCH,
        n_epochs=1 + epochs,
        optimizer_kwargs={"lr": LEARNING_RATE},
        random_state=0,
        pl_trainer_kwargs={
            "accelerator": "cpu",
            "callbacks": [timer],
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "enable_checkpointing": False,
        },
    )
    model.fit(target, past_covariates=covariates, verbose=False)
    return _epoch_summary(timer.seconds, samples, "lstm")


def jax_peer(samples: int, epochs: int) -> dict[str, Any]:
    """A hand-written ``lax.scan`` LSTM + Dense head trained with optax's Adam."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    inputs, targets = _random_data(samples)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    limit = np.sqrt(6 / (FEATURES + 4 * UNITS))
    params = {
        "kernel": jax.random.uniform(keys[0], (FEATURES, 4 * UNITS), minval=-limit, maxval=limit),
        "recurrent": jax.random.orthogonal(keys[1], 4 * UNITS)[:UNITS],
        "bias": jnp.zeros(4 * UNITS).at[UNITS : 2 * UNITS].set(1.0),
        "head": jax.random.normal(keys[2], (UNITS, HORIZON)) / np.sqrt(UNITS),
        "head_bias": jnp.zeros(HORIZON),
    }

    def forward(params: dict[str, Any], batch: Any) -> Any:
        def step(carry: Any, inputs: Any) -> Any:
            hidden, cell = carry
            gates = inputs @ params["kernel"] + hidden @ params["recurrent"] + params["bias"]
            i, f, g, o = jnp.split(gates, 4, axis=-1)
            cell = jax.nn.sigmoid(f) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
            return (jax.nn.sigmoid(o) * jnp.tanh(cell), cell), None

        zeros = jnp.zeros((batch.shape[0], UNITS))
        (hidden, _), _ = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(batch, 0, 1))
        return hidden @ params["head"] + params["head_bias"]

    optimizer = optax.adam(LEARNING_RATE)

    def mse(params: dict[str, Any], batch: Any, target: Any) -> Any:
        return jnp.mean((forward(params, batch) - target) ** 2)

    @jax.jit
    def train_step(params: Any, state: Any, batch: Any, target: Any) -> Any:
        loss, grads = jax.value_and_grad(mse)(params, batch, target)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    state = optimizer.init(params)
    rng = np.random.default_rng(0)
    epoch_seconds = []
    for _ in range(1 + epochs):
        started = time.perf_counter()
        order = rng.permutation(samples)
        for start in range(0, samples, BATCH):
            batch = order[start : start + BATCH]
            params, state, _loss = train_step(params, state, inputs[batch], targets[batch])
        jax.block_until_ready(params)
        epoch_seconds.append(time.perf_counter() - started)
    return _epoch_summary(epoch_seconds, samples, "lstm")


def _versions() -> dict[str, str | None]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in ("darts", "torch", "jax", "optax", "numpy")}


def worker(peer: str, samples: int, epochs: int) -> dict[str, Any]:
    """One peer's epoch summary, with the package versions it ran on."""
    if peer in ("darts", "torch"):
        import torch

        torch.manual_seed(0)
    runs = {"darts": darts_peer, "torch": torch_reference_lstm, "jax": jax_peer}
    result = runs[peer](samples, epochs)
    return {"peer": peer, "versions": _versions(), "results": {peer: result}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=PEERS, required=True, help="the peer to run")
    parser.add_argument("--samples", type=int, default=3072)
    parser.add_argument("--epochs", type=int, default=5)
    options, _ = parser.parse_known_args(argv)
    print(json.dumps(worker(options.backend, options.samples, options.epochs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
