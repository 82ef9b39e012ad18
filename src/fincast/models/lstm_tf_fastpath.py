"""TensorFlow's fused LSTM op for :class:`fincast.models.fused_lstm.FusedLSTM` (TensorFlow only).

Import this module only on the TensorFlow backend (``FusedLSTM`` does, after checking
``keras.backend.backend()``). Keras' ``keras.layers.LSTM`` runs on TensorFlow as a
graph ``while`` loop: every one of the sequence's time steps is a handful of graph ops
the executor schedules one by one, and on a CPU that overhead, not arithmetic, bounds
training. ``BlockLSTM`` (the op behind TensorFlow 1's ``LSTMBlockFusedCell``, still in
core TensorFlow with its registered gradient) runs the whole sequence inside one kernel.
It orders the gates input, cell, forget, output, so Keras' weights (input, forget,
cell, output) are reordered on the way in, and its ``w`` is Keras' ``kernel`` stacked
over ``recurrent_kernel``; no forget bias, peepholes or cell clipping. Not
``BlockLSTMV2``, which takes Keras' order: in TensorFlow 2.21 its forward pass reads
the gates as input, forget, cell, output but its gradient reads them as input, cell,
forget, output, so it trains on wrong gradients (``tests/speed`` compares every
gradient with Keras' loop).

The batch runs in shards side by side, one op per shard (the graph executor runs
independent ops in parallel on its inter-op threads). fincast's commands run
TensorFlow with one single-threaded op per core on a CPU
(:func:`fincast.backend.configure_tensorflow_threads`), so each shard keeps one core
for its whole sequence, forwards and backwards; with TensorFlow's default threads each
shard's small products are split over the cores again and the shards wait on each
other (``benchmarks/README.md`` has the runs of both). Each sample's recurrence is
computed alone, so shards change no output; the weight gradients are the shards'
sums, equal to one call's within float32 round-off.

How many shards: ``FINCAST_TF_LSTM_SHARDS`` (``auto``, the default, or a whole number;
``1`` turns sharding off). ``auto`` takes two per core (at most 16), and at most one per
32 windows when the graph knows the batch size; a batch of unknown size gets them all
(a shard may then be small or empty, which the op allows). XLA cannot compile the op:
inside an XLA-compiled function (``training.jit_compile=true``, fincast's compiled
TensorFlow serving) :func:`applies` is false and ``FusedLSTM`` keeps Keras' loop.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import tensorflow as tf
from tensorflow.python.framework import ops as framework_ops
from tensorflow.python.ops import control_flow_util

from fincast.backend import usable_cores

SHARDS_VARIABLE = "FINCAST_TF_LSTM_SHARDS"
MIN_SHARD_ROWS = 32
MAX_SHARDS = 16


def applies() -> bool:
    """Whether the op should run where the layer is being called.

    On a CPU-only TensorFlow (on a GPU Keras' LSTM runs cuDNN), and not under XLA,
    which has no kernel for the op.
    """
    if tf.config.list_logical_devices("GPU"):
        return False
    graph = framework_ops.get_default_graph()
    return not control_flow_util.GraphOrParentsInXlaContext(graph)


def shard_setting() -> int | None:
    """``FINCAST_TF_LSTM_SHARDS`` as a whole number >= 1, or None for ``auto``.

    Raises:
        ValueError: the variable is neither ``auto`` nor a whole number >= 1.
    """
    value = os.environ.get(SHARDS_VARIABLE, "auto").strip().lower()
    if value in ("", "auto"):
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"{SHARDS_VARIABLE} must be 'auto' or a whole number >= 1 (1 turns sharding off). "
            f"Received: {value!r}"
        )
    return int(value)


def shard_count(batch: int | None) -> int:
    """How many shards a batch of ``batch`` windows (None: unknown) runs in."""
    setting = shard_setting()
    if setting is not None:
        return setting
    wanted = min(MAX_SHARDS, 2 * usable_cores())
    if batch is None:
        return wanted
    return max(1, min(wanted, batch // MIN_SHARD_ROWS))


def fused_lstm(
    sequences: Any,
    initial_h: Any,
    initial_c: Any,
    *,
    kernel: Any,
    recurrent_kernel: Any,
    bias: Any | None,
    return_sequences: bool,
) -> tuple[Any, Any, list[Any]]:
    """One LSTM layer over ``sequences (batch, time, features)`` in fused ops, batch in shards.

    Returns what ``keras.layers.LSTM.inner_loop`` returns: the last output
    ``(batch, units)``, the outputs (``(batch, time, units)``, or ``(batch, 1, units)``
    holding the last one when ``return_sequences`` is false) and the final ``[h, c]``.
    """
    units = int(recurrent_kernel.shape[0])
    dtype = kernel.dtype
    weights = _cell_gate_order(tf.concat([kernel, recurrent_kernel], axis=0))
    bias = tf.zeros([4 * units], dtype) if bias is None else _cell_gate_order(bias)
    no_peephole = tf.zeros([units], dtype)
    time_major = tf.transpose(tf.cast(sequences, dtype), [1, 0, 2])
    initial_h, initial_c = tf.cast(initial_h, dtype), tf.cast(initial_c, dtype)
    steps = tf.cast(tf.shape(time_major)[0], tf.int64)

    def run(rows: slice) -> tuple[Any, Any]:
        outputs = tf.raw_ops.BlockLSTM(
            seq_len_max=steps,
            x=time_major[:, rows],
            cs_prev=initial_c[rows],
            h_prev=initial_h[rows],
            w=weights,
            wci=no_peephole,
            wcf=no_peephole,
            wco=no_peephole,
            b=bias,
            forget_bias=0.0,
            cell_clip=-1.0,  # < 0: no clipping, as Keras
            use_peephole=False,
        )
        return outputs[6], outputs[1]  # h and the cell state c, (time, rows, units)

    batch = tf.shape(time_major)[1]
    shards = shard_count(sequences.shape[0])
    bounds = [batch * index // shards for index in range(shards + 1)]
    pieces = [run(slice(start, stop)) for start, stop in itertools.pairwise(bounds)]
    hidden = pieces[0][0] if shards == 1 else tf.concat([piece[0] for piece in pieces], axis=1)
    cells = pieces[0][1] if shards == 1 else tf.concat([piece[1][-1:] for piece in pieces], axis=1)
    last_h, last_c = hidden[-1], cells[-1]
    outputs = tf.transpose(hidden, [1, 0, 2]) if return_sequences else last_h[:, None, :]
    return last_h, outputs, [last_h, last_c]


def _cell_gate_order(weights: Any) -> Any:
    """Keras' gate blocks (input, forget, cell, output) in ``BlockLSTM``'s order (i, c, f, o)."""
    input_gate, forget_gate, cell_gate, output_gate = tf.split(weights, 4, axis=-1)
    return tf.concat([input_gate, cell_gate, forget_gate, output_gate], axis=-1)
