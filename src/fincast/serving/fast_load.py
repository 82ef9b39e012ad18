"""Load a saved Keras model without drawing the random weights its file replaces.

Keras rebuilds a saved model's layers before it reads their weights, and building
draws every weight from its initializer first. On JAX each random initializer of a
new shape compiles an XLA program (Glorot, orthogonal: about 2 s of a forecast's
start-up for one LSTM); on every backend the values are thrown away a moment later.
Inside :func:`weights_from_file`, random initializers on this thread give zeros
instead, and every such weight is then read from the file: the loaded model is the
saved one, weight for weight. Other threads (a dashboard training a model) are not
affected.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_LOADING = threading.local()
_INSTALLED: set[type] = set()
_INSTALL_LOCK = threading.Lock()


def _zeros(shape: Any, dtype: Any = None, **_: Any) -> np.ndarray:
    """A stand-in for a random initializer: zeros, without compiling anything."""
    return np.zeros(tuple(shape), dtype=dtype or "float32")


def _install(variable_class: type) -> None:
    """Wrap ``variable_class._initialize_with_initializer`` once, to consult ``_LOADING``."""
    from keras.src.initializers.random_initializers import RandomInitializer

    with _INSTALL_LOCK:
        if variable_class in _INSTALLED:
            return
        original = variable_class._initialize_with_initializer  # type: ignore[attr-defined]

        @functools.wraps(original)
        def initialize(self: Any, initializer: Any) -> Any:
            if getattr(_LOADING, "active", False) and isinstance(initializer, RandomInitializer):
                initializer = _zeros
            return original(self, initializer)

        variable_class._initialize_with_initializer = initialize  # type: ignore[attr-defined]
        _INSTALLED.add(variable_class)


@contextmanager
def weights_from_file() -> Iterator[None]:
    """Inside the block, this thread's random initializers give zeros (see the module).

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
