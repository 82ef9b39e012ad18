"""Fast forecasts: a model compiled once for the active backend, checked against Keras.

``model.predict`` builds a data pipeline on every call (75 ms for one window on
TensorFlow) and even ``predict_on_batch`` runs TensorFlow's LSTM as a graph loop and
PyTorch's as a Python loop over time steps. :func:`compile_predict` returns a callable
``window -> forecast`` that runs the model through the backend's compiled path:

* JAX: ``jax.jit`` of ``model.stateless_call`` (:mod:`fincast.serving.jax_fastpath`);
* TensorFlow: an XLA-compiled ``tf.function`` (:mod:`fincast.serving.tensorflow_fastpath`);
* PyTorch: a ``torch.jit`` trace under ``inference_mode``, with every LSTM on PyTorch's
  fused kernel (:mod:`fincast.serving.torch_fastpath`).

Correctness is not traded for speed: the first batch of every new shape is also run
through ``model.predict_on_batch``, and if the two disagree (beyond float32 round-off)
the predictor says so in a warning and serves ``predict_on_batch`` from then on. Any
failure to compile falls back the same way. The tests check each backend's path
against ``model.predict`` to 1e-6.

The compiled path reads the weights the model holds when it is compiled (PyTorch) or
called (JAX, TensorFlow); compile again after changing a model's weights.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

__all__ = ["CHECK_ATOL", "CHECK_RTOL", "FastPredict", "compile_predict", "reference_predict"]

Predict = Callable[[np.ndarray], np.ndarray]
# float32 round-off between two orders of the same sums; far below any forecast's meaning
CHECK_RTOL, CHECK_ATOL = 1e-5, 1e-6
LOGGER = logging.getLogger(__name__)


def reference_predict(model: keras.Model) -> Predict:
    """Keras' own compiled path, ``model.predict_on_batch``: the reference."""

    def predict(window: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(window))

    return predict


def _backend_predict(model: keras.Model, backend: str) -> Predict:
    if backend == "jax":
        from fincast.serving import jax_fastpath

        return jax_fastpath.compile_predict(model)
    if backend == "tensorflow":
        from fincast.serving import tensorflow_fastpath

        return tensorflow_fastpath.compile_predict(model)
    if backend == "torch":
        from fincast.serving import torch_fastpath

        return torch_fastpath.compile_predict(model)
    raise NotImplementedError(f"No fast path for the Keras backend {backend!r}.")


class FastPredict:
    """``window -> forecast`` through the backend's compiled path, checked per new shape.

    Args:
        model: a Keras model with one input and one output.
        check: compare the first batch of every new input shape with
            ``model.predict_on_batch``; on a mismatch, warn and serve the reference.
    """

    def __init__(self, model: keras.Model, check: bool = True) -> None:
        self.model = model
        self.backend = str(keras.backend.backend())
        self.check = check
        self._checked: set[tuple[int, ...]] = set()
        self._reference = reference_predict(model)
        self.reason: str | None = None  # why the reference path is served, if it is
        self._fast: Predict | None = None
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            self.reason = "the model has several inputs or outputs"
            return
        try:
            self._fast = _backend_predict(model, self.backend)
        except Exception as error:  # any compile failure: keep serving, correctly
            self._fall_back(f"its {self.backend} fast path failed to compile ({error!r})")

    @property
    def compiled(self) -> bool:
        """True while the backend's compiled path serves the forecasts."""
        return self._fast is not None

    def _fall_back(self, reason: str) -> None:
        self._fast, self.reason = None, reason
        message = f"Serving {self.model.name} through model.predict_on_batch: {reason}."
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        LOGGER.warning(message)

    def __call__(self, window: np.ndarray) -> np.ndarray:
        """Forecasts for ``window`` ``(n, lookback, features)``, as float32 NumPy."""
        window = np.ascontiguousarray(window, dtype="float32")
        if self._fast is None:
            return self._reference(window)
        try:
            fast = self._fast(window)
        except Exception as error:
            self._fall_back(f"its {self.backend} fast path failed on {window.shape} ({error!r})")
            return self._reference(window)
        if self.check and window.shape not in self._checked:
            reference = self._reference(window)
            if not _agree(fast, reference):
                gap = float(np.max(np.abs(fast - reference)))
                self._fall_back(f"its {self.backend} fast path differs by {gap:.3g}")
                return reference
            self._checked.add(window.shape)
        return fast


def _agree(fast: Any, reference: np.ndarray) -> bool:
    fast = np.asarray(fast)
    return fast.shape == reference.shape and bool(
        np.allclose(fast, reference, rtol=CHECK_RTOL, atol=CHECK_ATOL)
    )


def compile_predict(model: keras.Model, check: bool = True) -> FastPredict:
    """The fastest correct ``window -> forecast`` for ``model`` on the active backend.

    Args:
        model: a Keras model with one input and one output (every fincast forecaster).
        check: compare each new input shape's first batch with ``predict_on_batch``.

    Returns:
        A :class:`FastPredict`: call it with float windows ``(n, lookback, features)``.
    """
    return FastPredict(model, check=check)
