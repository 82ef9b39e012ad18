"""JAX fast path for :mod:`fincast.serving.fast_predict` (import on the JAX backend only).

``jax.jit`` of ``model.stateless_call``: one XLA executable per input shape, the
model's current variable values passed in on every call (no Keras layer dispatch, no
data pipeline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import keras
import numpy as np


def compile_predict(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """``window -> forecast`` through ``jax.jit(model.stateless_call)``."""
    trainable = list(model.trainable_variables)
    non_trainable = list(model.non_trainable_variables)

    @jax.jit
    def run(trainable_values: list[Any], non_trainable_values: list[Any], inputs: Any) -> Any:
        outputs, _ = model.stateless_call(
            trainable_values, non_trainable_values, inputs, training=False
        )
        return outputs

    def predict(window: np.ndarray) -> np.ndarray:
        values = [variable.value for variable in trainable]
        fixed = [variable.value for variable in non_trainable]
        return np.asarray(run(values, fixed, window))

    return predict
