"""Make every fincast Keras object (layers, losses) known to Keras' deserializer."""

from __future__ import annotations

import importlib

# the modules whose import registers them (layers imports attention, losses,
# normalization, quantile and time2vec)
MODULES = ("fincast.models.layers", "fincast.models.fused_lstm")


def register_keras_objects() -> None:
    """Register fincast's layers and losses (``fincast>Rescale``, ``fincast>LSTM``, ...).

    They register with ``@keras.saving.register_keras_serializable`` when their modules
    are imported; a ``.keras`` file that uses them loads only after this. Imports
    ``keras``: call it after the backend is chosen.
    """
    for module in MODULES:
        importlib.import_module(module)
