"""fincast: financial forecasting on portable Keras 3.

This package must not import keras at import time: the backend is chosen first
(see :mod:`fincast.backend`).
"""

__version__ = "0.1.0"
