"""An LSTM with Keras' weights, config and saved format that runs a fused path per backend.

:class:`FusedLSTM` is ``keras.layers.LSTM`` itself (same constructor, same
``get_config``, same weights: ``kernel (features, 4*units)``, ``recurrent_kernel
(units, 4*units)``, ``bias (4*units,)``) except that on a CPU its whole sequence runs
in a faster path than Keras' own loop, which gives the same numbers within float32
round-off (tested to 1e-5 for outputs, gradients and Adam steps on every backend):

- PyTorch: Keras' LSTM steps through time in a Python loop on a CPU; here the sequence
  runs in PyTorch's fused LSTM kernel (:mod:`fincast.models.lstm_fastpath`), with the
  batch in shards side by side, one single-threaded kernel per thread
  (:mod:`fincast.models.lstm_shards_fastpath`; :func:`sharded_training`).
- TensorFlow: TensorFlow's fused ``BlockLSTM`` op in batch shards
  (:mod:`fincast.models.lstm_tf_fastpath`); under XLA and on a GPU (cuDNN), Keras' loop.
- JAX: the batch split over one CPU device per core with ``shard_map``
  (:mod:`fincast.models.lstm_jax_fastpath`), for batches of 32+ windows a device.

It falls back to Keras' own loop whenever the fused path would compute something
else: a mask, recurrent dropout, activations other than ``tanh``/``sigmoid``,
``go_backwards``, ``stateful``, or a compute dtype other than float32. It is saved as
``fincast>LSTM`` with ``keras.layers.LSTM``'s config and weights-file layout: where
``fincast>LSTM`` maps to ``keras.layers.LSTM`` the file loads as plain Keras LSTMs with
the same weights. :func:`with_fused_lstm` goes the other way, for a model built with
``keras.layers.LSTM``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any

import keras
from keras import ops

__all__ = [
    "LSTM",
    "FusedLSTM",
    "fused_kernel_applies",
    "keras_loop",
    "sharded_training",
    "with_fused_lstm",
]


@keras.saving.register_keras_serializable(package="fincast")
class LSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` that runs a fused LSTM path on each backend's CPU.

    Takes exactly ``keras.layers.LSTM``'s arguments and holds exactly its weights. The
    class is called ``LSTM`` because a ``.keras`` file stores a layer's weights under
    its class name (``layers/lstm/cell/vars``): with this name the weights file is the
    one ``keras.layers.LSTM`` writes. Imported as :data:`FusedLSTM` elsewhere in fincast.
    """

    def inner_loop(
        self, sequences: Any, initial_state: Any, mask: Any, training: bool = False
    ) -> Any:
        if isinstance(mask, list | tuple):
            mask = mask[0]
        fused = None if mask is not None else _fused_path(self, sequences)
        if fused is None:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if training and self.dropout:  # the same input dropout as keras.layers.LSTM
            dropout_mask = ops.expand_dims(self.cell.get_dropout_mask(sequences[:, 0, :]), 1)
            sequences = sequences * ops.broadcast_to(dropout_mask, ops.shape(sequences))
        bias = self.cell.bias if self.cell.use_bias else None
        return fused(
            sequences,
            initial_state[0],
            initial_state[1],
            kernel=ops.convert_to_tensor(self.cell.kernel),
            recurrent_kernel=ops.convert_to_tensor(self.cell.recurrent_kernel),
            bias=None if bias is None else ops.convert_to_tensor(bias),
            return_sequences=self.return_sequences,
        )


_KERAS_LOOP = contextvars.ContextVar("fincast_keras_lstm_loop", default=False)


@contextlib.contextmanager
def keras_loop() -> Iterator[None]:
    """Inside this block every :class:`FusedLSTM` runs Keras' own loop (e.g. while a
    graph is traced for an exporter that only knows Keras' LSTM ops)."""
    token = _KERAS_LOOP.set(True)
    try:
        yield
    finally:
        _KERAS_LOOP.reset(token)


def _fused_path(layer: keras.layers.LSTM, sequences: Any) -> Callable[..., Any] | None:
    """This backend's fused LSTM for this call, or None where Keras' loop is faster or needed."""
    if _KERAS_LOOP.get() or not fused_kernel_applies(layer):
        return None
    backend = keras.backend.backend()
    if backend == "torch":
        from fincast.models import lstm_fastpath  # gated: the backend

        return lstm_fastpath.fused_lstm
    if backend == "tensorflow":
        from fincast.models import lstm_tf_fastpath  # gated: the backend

        return lstm_tf_fastpath.fused_lstm if lstm_tf_fastpath.applies() else None
    from fincast.models import lstm_jax_fastpath  # gated: the backend

    shards = lstm_jax_fastpath.shard_count(sequences.shape[0])
    return functools.partial(lstm_jax_fastpath.fused_lstm, shards=shards) if shards > 1 else None


FusedLSTM = LSTM


def fused_kernel_applies(layer: keras.layers.LSTM) -> bool:
    """Whether this backend's fused path computes exactly what ``layer`` computes.

    True for a float32 ``tanh``/``sigmoid`` LSTM without recurrent dropout,
    ``go_backwards`` or ``stateful``; each call also checks its mask, and on TensorFlow
    XLA, the units and the device, on JAX the batch and the devices
    (:func:`_fused_path`). Mixed precision keeps Keras' loop: PyTorch's CPU kernel has no
    float16 path.
    """
    cell = layer.cell
    return (
        keras.backend.backend() in ("torch", "tensorflow", "jax")
        and layer.compute_dtype == "float32"
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and not cell.recurrent_dropout
        and not layer.go_backwards
        and not layer.stateful
    )


@contextlib.contextmanager
def sharded_training(model: keras.Model, batch_size: int | None = None) -> Iterator[int]:
    """Train ``model``'s fused LSTMs with each batch in shards; yields the most shards.

    On PyTorch on a CPU, for a model with a :class:`FusedLSTM` the fused kernel applies
    to, this thread's other PyTorch work runs single-threaded inside the block and the
    LSTM batches are split over the threads instead
    (:func:`fincast.models.lstm_shards_fastpath.threads_to_shards`). On TensorFlow and
    JAX the layer shards by itself. This yields how many shards a batch of
    ``batch_size`` windows runs in (1: none, e.g. under XLA on TensorFlow); on PyTorch a
    batch whose kernel memory would pass 31 MiB a shard runs in more shards than threads.
    """
    fused = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, FusedLSTM) and fused_kernel_applies(layer)
    ]
    backend = keras.backend.backend()
    if not fused or (backend == "tensorflow" and getattr(model, "jit_compile", False)):
        yield 1
    elif backend == "tensorflow":
        from fincast.models import lstm_tf_fastpath  # gated: the backend

        yield lstm_tf_fastpath.shard_count(batch_size)
    elif backend == "jax":
        from fincast.models import lstm_jax_fastpath  # gated: the backend

        yield lstm_jax_fastpath.shard_count(batch_size)
    else:
        from fincast.models import lstm_shards_fastpath  # gated: the backend

        with lstm_shards_fastpath.threads_to_shards() as threads:
            yield max(
                [threads]
                + [
                    lstm_shards_fastpath.planned_shards(batch_size, steps, layer.units, True)
                    for layer, steps in _steps_by_layer(fused)
                    if batch_size and steps
                ]
            )


def _steps_by_layer(layers: list[keras.layers.LSTM]) -> list[tuple[keras.layers.LSTM, int | None]]:
    """Each built layer with the time steps of its input (None where not fixed or known)."""
    steps = []
    for layer in layers:
        shape = getattr(getattr(layer, "input", None), "shape", None) if layer.built else None
        steps.append((layer, shape[1] if shape is not None and len(shape) == 3 else None))
    return steps


def with_fused_lstm(model: keras.Model) -> keras.Model:
    """A copy of a Functional/Sequential ``model`` with every plain LSTM as a :class:`FusedLSTM`.

    Other layers are shared with ``model`` (not copied); the LSTM weights are copied, so
    the copy gives ``model``'s outputs. Returns ``model`` itself when it has no plain
    ``keras.layers.LSTM`` the fused kernel applies to.
    """
    plain = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if type(layer) is keras.layers.LSTM and fused_kernel_applies(layer)
    ]
    if not plain:
        return model
    swapped: dict[str, keras.layers.Layer] = {}

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if any(layer is candidate for candidate in plain):
            swapped[layer.name] = FusedLSTM.from_config(layer.get_config())
            return swapped[layer.name]
        return layer

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in plain:
        swapped[layer.name].set_weights(layer.get_weights())
    return copy
