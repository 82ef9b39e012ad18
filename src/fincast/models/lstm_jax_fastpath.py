"""An LSTM with its batch split over JAX's CPU devices, for ``FusedLSTM`` (JAX only).

Import this module only on the JAX backend (``FusedLSTM`` does, after checking
``keras.backend.backend()``). On a CPU, XLA runs an LSTM's ``scan`` one time step after
another, and each step's small matrix products use a multi-core machine poorly. JAX can
present the CPU as several devices (``--xla_force_host_platform_device_count``, which
:func:`fincast.backend.select_backend` sets to the core count before JAX starts; see
:func:`fincast.backend.jax_host_devices`): this module splits a batch over them with
``jax.shard_map``, one shard per device, each device running the whole recurrence of
its shard, forwards and backwards. On 2 cores it trained fincast's reference LSTM about
2x faster than Keras' loop (``benchmarks/README.md``). Keras' own ``DataParallel`` splits
the batch too, but partitions the ``scan`` through XLA's automatic partitioner, which
gained only ~1.2x here, and it shards every layer, which halved an MLP's speed.

The shards run a ``lax.scan`` of Keras' LSTM cell (the same gate order and products:
``x @ kernel + h @ recurrent_kernel + bias``; input, forget, cell, output); each
sample's recurrence is computed alone, so outputs match ``keras.layers.LSTM`` within
float32 round-off, and the weight gradients are the shards' sums (``tests/speed``
checks both to 1e-5). A batch that does not split into shards of at least
:data:`MIN_SHARD_ROWS` windows on 2 or more devices, a call inside a Keras
distribution, and a process with one CPU device keep Keras' loop.

Each training step's weight gradients meet in an all-reduce across the devices. Keras
must not queue dozens of such steps ahead of the devices, or XLA's CPU client
deadlocks and aborts the process: ``train_model`` passes
:class:`fincast.fitting.dispatch.BoundedDispatch` to ``fit``, and a ``fit`` of your own
with this layer on several devices should pass it too.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import keras
from jax import lax
from jax.sharding import Mesh, PartitionSpec

MIN_SHARD_ROWS = 32
AXIS = "shards"


def shard_count(batch: int | None) -> int:
    """How many host devices a batch of ``batch`` windows runs on (1: no sharding).

    The most devices that each get at least :data:`MIN_SHARD_ROWS` windows and split
    the batch evenly (``shard_map`` needs equal shards).
    """
    if batch is None or keras.distribution.distribution() is not None:
        return 1
    devices = jax.devices()
    if devices[0].platform != "cpu":
        return 1
    for shards in range(min(len(devices), batch // MIN_SHARD_ROWS), 1, -1):
        if batch % shards == 0:
            return shards
    return 1


def fused_lstm(
    sequences: Any,
    initial_h: Any,
    initial_c: Any,
    *,
    kernel: Any,
    recurrent_kernel: Any,
    bias: Any | None,
    return_sequences: bool,
    shards: int,
) -> tuple[Any, Any, list[Any]]:
    """One LSTM layer over ``sequences (batch, time, features)``, the batch over ``shards`` devices.

    Returns what ``keras.layers.LSTM.inner_loop`` returns: the last output
    ``(batch, units)``, the outputs (``(batch, time, units)``, or ``(batch, 1, units)``
    holding the last one when ``return_sequences`` is false) and the final ``[h, c]``.
    """
    units = recurrent_kernel.shape[0]
    bias = jnp.zeros((4 * units,), kernel.dtype) if bias is None else bias

    def recurrence(
        inputs: Any, hidden: Any, cell: Any, weights: Any, recurrent: Any, offset: Any
    ) -> tuple[Any, Any, Any]:
        def step(carry: tuple[Any, Any], step_inputs: Any) -> tuple[tuple[Any, Any], Any]:
            hidden, cell = carry
            gates = step_inputs @ weights + hidden @ recurrent + offset
            input_gate, forget_gate, cell_gate, output_gate = jnp.split(gates, 4, axis=-1)
            cell = jax.nn.sigmoid(forget_gate) * cell + jax.nn.sigmoid(input_gate) * jnp.tanh(
                cell_gate
            )
            hidden = jax.nn.sigmoid(output_gate) * jnp.tanh(cell)
            return (hidden, cell), (hidden if return_sequences else None)

        (hidden, cell), outputs = lax.scan(step, (hidden, cell), jnp.swapaxes(inputs, 0, 1))
        if not return_sequences:
            return hidden, cell, hidden[:, None, :]
        return hidden, cell, jnp.swapaxes(outputs, 0, 1)

    rows = PartitionSpec(AXIS)
    mesh = Mesh(jax.devices()[:shards], (AXIS,))
    run = jax.shard_map(
        recurrence,
        mesh=mesh,
        in_specs=(rows, rows, rows, PartitionSpec(), PartitionSpec(), PartitionSpec()),
        out_specs=(rows, rows, rows),
        check_vma=False,
    )
    dtype = kernel.dtype
    last_h, last_c, outputs = run(
        sequences.astype(dtype),
        initial_h.astype(dtype),
        initial_c.astype(dtype),
        kernel,
        recurrent_kernel,
        bias,
    )
    return last_h, outputs, [last_h, last_c]
