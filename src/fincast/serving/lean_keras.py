"""Import Keras without the optional packages a forecast never uses.

``import keras`` also imports, where they are installed, matplotlib's ``pyplot`` (for
``keras.visualization``), scikit-learn (for ``keras.wrappers``) and, on every backend,
JAX (for ``keras.callbacks.OrbaxCheckpoint``): together a second or more of a
forecast's start-up. Keras imports each inside ``try ... except ImportError``; inside
:func:`keras_extras_left_out` they read as not installed, so Keras goes on without
them. After the block they import as usual for any later code; Keras' own image
plots, scikit-learn wrappers and Orbax callback stay unavailable in the process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

EXTRAS = ("matplotlib", "sklearn")


def extras_for(backend: str) -> list[str]:
    """The packages left out of Keras' import on ``backend`` (JAX unless it is the backend)."""
    return [*EXTRAS, *([] if backend == "jax" else ["jax"])]


@contextmanager
def keras_extras_left_out(backend: str) -> Iterator[None]:
    """Inside the block, :func:`extras_for` ``backend`` that are not yet imported read as
    not installed (``sys.modules[name] = None``: ``import`` raises ``ImportError``)."""
    left_out = [name for name in extras_for(backend) if name not in sys.modules]
    for name in left_out:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in left_out:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
