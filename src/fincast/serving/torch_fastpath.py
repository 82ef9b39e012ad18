"""PyTorch fast path for :mod:`fincast.serving.fast_predict` (PyTorch backend only).

Keras on PyTorch runs eagerly: every call walks the Functional graph in Python and
steps an LSTM through time in a Python loop. Here the model's LSTMs run PyTorch's
fused kernel (:func:`fincast.models.fused_lstm.with_fused_lstm`) and the whole
forward pass is recorded once per input shape with ``torch.jit.trace`` under
``inference_mode``, so a forecast replays a graph of ATen ops with no Keras dispatch.
A forecast of a few windows runs on one intra-op thread (restored afterwards).
fincast's layers have no data-dependent Python branches, which is what a trace needs;
:class:`fincast.serving.fast_predict.FastPredict` still checks each new shape's
first result against ``model.predict_on_batch``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import torch

from fincast.models.fused_lstm import with_fused_lstm

MAX_TRACES = 8  # input shapes kept compiled; others run the fused model eagerly
# A few windows run on one thread: their matrices are too small to split, and waking a
# second OpenMP thread costs more than it saves (milliseconds when the CPU is busy).
SINGLE_THREAD_MAX_WINDOWS = 16


class _Inference(torch.nn.Module):
    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> Any:
        return self.model(inputs, training=False)


def _device(model: keras.Model) -> torch.device:
    weights = model.weights
    return weights[0].value.device if weights else torch.device("cpu")


def compile_predict(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """``window -> forecast`` through a per-shape ``torch.jit`` trace of the fused model."""
    module = _Inference(with_fused_lstm(model)).eval()
    device = _device(model)
    traces: dict[tuple[int, ...], Callable[[torch.Tensor], torch.Tensor]] = {}

    def compiled(inputs: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        shape = tuple(inputs.shape)
        if shape not in traces:
            if len(traces) >= MAX_TRACES:
                return module
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                traces[shape] = torch.jit.trace(module, inputs, check_trace=False)
        return traces[shape]

    def predict(window: np.ndarray) -> np.ndarray:
        threads = torch.get_num_threads()
        single = threads > 1 and window.shape[0] <= SINGLE_THREAD_MAX_WINDOWS
        if single:  # this thread only: OpenMP's thread count is per calling thread
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                inputs = torch.from_numpy(window).to(device)
                return compiled(inputs)(inputs).cpu().numpy()
        finally:
            if single:
                torch.set_num_threads(threads)

    return predict
