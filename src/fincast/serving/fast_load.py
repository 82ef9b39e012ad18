"""Load a saved Keras model without computing the initial weights its file replaces.

Keras rebuilds a saved model's layers before it reads their weights, and building
computes every weight from its initializer first. On JAX each initializer of a new
shape compiles an XLA program (Glorot, orthogonal, an LSTM's unit forget bias, a
Normalization layer's zeros and ones: about 2 s of a forecast's start-up for one
LSTM); on every backend the values are thrown away a moment later. Inside
:func:`weights_from_file`, initializers on this thread give NumPy zeros instead (a
random generator's seed state aside, which a file need not hold), and every such
weight is then read from the file: the loaded model is the saved one, weight for
weight. Other threads (a dashboard training a model) are not affected.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

SEED_STATE = "seed_generator_state"  # keras.random.SeedGenerator's variable
_LOADING = threading.local()
_INSTALLED: set[type] = set()
_INSTALL_LOCK = threading.Lock()


def _zeros(shape: Any, dtype: Any = None, **_: Any) -> np.ndarray:
    """A stand-in for an initializer: zeros, without compiling anything."""
    return np.zeros(tuple(shape), dtype=dtype or "float32")


def _numpy_has(dtype: Any) -> bool:
    """True for a dtype NumPy knows by name (``float32``, ``int32``; not ``bfloat16``)."""
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True


def _install(variable_class: type) -> None:
    """Wrap ``variable_class._initialize_with_initializer`` once, to consult ``_LOADING``."""
    with _INSTALL_LOCK:
        if variable_class in _INSTALLED:
            return
        original = variable_class._initialize_with_initializer  # type: ignore[attr-defined]

        @functools.wraps(original)
        def initialize(self: Any, initializer: Any) -> Any:
            loading = getattr(_LOADING, "active", False)
            if loading and self.name != SEED_STATE and _numpy_has(self.dtype):
                initializer = _zeros
            return original(self, initializer)

        variable_class._initialize_with_initializer = initialize  # type: ignore[attr-defined]
        _INSTALLED.add(variable_class)


@contextmanager
def weights_from_file() -> Iterator[None]:
    """Inside the block, this thread's initializers give zeros (see the module).

    Use it only around ``keras.saving.load_model``, whose file then sets every weight.
    Where Keras lacks the internals this relies on, the block changes nothing.
    """
    try:
        from keras.src.backend import BackendVariable

        _install(BackendVariable)
    except (ImportError, AttributeError):  # another Keras: load as Keras does
        yield
        return
    before = getattr(_LOADING, "active", False)
    _LOADING.active = True
    try:
        yield
    finally:
        _LOADING.active = before
