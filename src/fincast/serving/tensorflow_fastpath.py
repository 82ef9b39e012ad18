"""TensorFlow fast path for :mod:`fincast.serving.fast_predict` (TensorFlow backend only).

A ``tf.function`` around ``model(x, training=False)`` with a fixed input signature
(any batch size), compiled by XLA (``jit_compile=True``): the LSTM's time loop becomes
one fused XLA loop instead of TensorFlow's graph ``while``. Where XLA cannot compile
the model, the same function runs as a plain graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf


def _concrete_function(model: keras.Model, jit_compile: bool) -> Any:
    """The traced graph of ``model(x, training=False)`` for any batch size.

    Calling the concrete function skips ``tf.function``'s argument matching (about
    half the per-call overhead for one window).
    """
    shape = (None, *tuple(model.inputs[0].shape)[1:])
    signature = [tf.TensorSpec(shape, dtype=model.inputs[0].dtype)]

    def run(inputs: Any) -> Any:
        return model(inputs, training=False)

    function = tf.function(run, input_signature=signature, jit_compile=jit_compile)
    return function.get_concrete_function()


def compile_predict(
    model: keras.Model, jit_compile: bool = True
) -> Callable[[np.ndarray], np.ndarray]:
    """``window -> forecast`` through an (XLA-compiled) ``tf.function``.

    The function is traced and compiled here, on one window of zeros, so the first
    forecast does not pay for it; XLA compiles once more for each new batch size.
    """
    shape = tuple(model.inputs[0].shape)[1:]
    probe = tf.zeros((1, *[1 if size is None else size for size in shape]))
    function = _concrete_function(model, jit_compile)
    try:
        function(probe)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        if not jit_compile:
            raise
        function = _concrete_function(model, jit_compile=False)  # an op XLA cannot compile
        function(probe)

    def predict(window: np.ndarray) -> np.ndarray:
        return np.asarray(function(tf.constant(window)))

    return predict
