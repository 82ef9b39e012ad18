"""PyTorch's fused LSTM kernel for :class:`fincast.models.fused_lstm.FusedLSTM` (torch only).

Import this module only on the PyTorch backend (``FusedLSTM`` does, after checking
``keras.backend.backend()``). Keras' LSTM weights map onto ``torch._VF.lstm``'s, the
kernel behind ``torch.nn.LSTM``, without copies: both order the gates input, forget,
cell, output; Keras' ``kernel (features, 4*units)`` is PyTorch's ``weight_ih`` transposed,
``recurrent_kernel (units, 4*units)`` is ``weight_hh`` transposed, and Keras' one bias is
``bias_ih`` with ``bias_hh = 0``. Gradients flow back to Keras' variables through the
transposes.

On a CPU with several threads, a batch is split into shards that run side by side, one
single-threaded kernel per core, forwards and backwards
(:mod:`fincast.models.lstm_shards_fastpath`).
"""

from __future__ import annotations

import torch

from fincast.models import lstm_shards_fastpath


def fused_lstm(
    sequences: torch.Tensor,
    initial_h: torch.Tensor,
    initial_c: torch.Tensor,
    *,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    return_sequences: bool,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """One LSTM layer over ``sequences (batch, time, features)`` in one fused call.

    Returns what ``keras.layers.LSTM.inner_loop`` returns: the last output
    ``(batch, units)``, the outputs (``(batch, time, units)``, or ``(batch, 1, units)``
    holding the last one when ``return_sequences`` is false) and the final ``[h, c]``.
    """
    sequences = sequences.to(kernel.dtype)
    units = recurrent_kernel.shape[0]
    if sequences.device.type == "meta":
        return _shapes_only(sequences, units, return_sequences)
    zeros = torch.zeros(4 * units, dtype=kernel.dtype, device=kernel.device)
    weights = [kernel.t(), recurrent_kernel.t(), zeros if bias is None else bias, zeros]
    initial_h, initial_c = initial_h.to(kernel.dtype), initial_c.to(kernel.dtype)
    train = torch.is_grad_enabled()
    shards = lstm_shards_fastpath.shard_count(sequences, units, train)
    if shards > 1:
        outputs, last_h, last_c = lstm_shards_fastpath.sharded(
            lstm_kernel, shards, sequences, initial_h, initial_c, weights
        )
    else:
        outputs, last_h, last_c = lstm_kernel(sequences, initial_h, initial_c, weights, train)
    if not return_sequences:
        outputs = last_h.unsqueeze(1)
    return last_h, outputs, [last_h, last_c]


def _shapes_only(
    sequences: torch.Tensor, units: int, return_sequences: bool
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """What :func:`fused_lstm` returns, as shapes only, for tensors on PyTorch's meta device.

    Keras works out a model's output shapes by calling it on meta tensors (each ``fit``
    of a new model does, to build its loss and metrics); there ``torch._VF.lstm`` runs
    through PyTorch's step-by-step Python reference of the LSTM, about half a second for a
    60-step window, with no numbers to compute.
    """
    batch, steps = sequences.shape[0], sequences.shape[1]
    last_h = sequences.new_empty((batch, units))
    outputs = sequences.new_empty((batch, steps if return_sequences else 1, units))
    return last_h, outputs, [last_h, sequences.new_empty((batch, units))]


def lstm_kernel(
    sequences: torch.Tensor,
    initial_h: torch.Tensor,
    initial_c: torch.Tensor,
    weights: list[torch.Tensor],
    train: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch._VF.lstm`` on one batch: outputs ``(batch, time, units)``, last h and c."""
    outputs, last_h, last_c = torch._VF.lstm(
        sequences,
        (initial_h.unsqueeze(0), initial_c.unsqueeze(0)),
        weights,
        True,  # has_biases
        1,  # num_layers
        0.0,  # dropout (Keras' input dropout is applied before the call)
        train,  # keep what the backward pass needs
        False,  # bidirectional
        True,  # batch_first
    )
    return outputs, last_h.squeeze(0), last_c.squeeze(0)
