"""fincast's MLflow plugin: its dataset source, and its Keras objects for MLflow's loaders.

MLflow imports this module through fincast's ``mlflow.dataset_source`` entry point
(``pyproject.toml``) whenever ``mlflow`` is imported, in any process of an
environment where fincast is installed. It

- defines :class:`FincastDatasetSource`, the source of the market data a run was
  trained on (``sample``, ``yfinance``, ``csv``...), so MLflow records it without
  guessing among its path-based sources;
- makes fincast's Keras layers and losses known to Keras as soon as Keras is
  imported, so MLflow's own ``mlflow.keras.load_model`` and ``mlflow.pyfunc.load_model``
  load a fincast model without the caller importing fincast first.

It imports neither Keras nor a backend itself: the backend is still chosen by whoever
imports Keras first. Import it after ``mlflow`` (importing mlflow imports it): imported
first, it would import mlflow, whose plugin loading would find it half-initialised.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from mlflow.data.dataset_source import DatasetSource

logger = logging.getLogger(__name__)


class FincastDatasetSource(DatasetSource):
    """Where a run's bars came from: the source kind, its location and the tickers."""

    def __init__(self, kind: str, location: str, tickers: Sequence[str] = ()) -> None:
        self.kind = kind
        self.location = location
        self.tickers = list(tickers)

    @staticmethod
    def _get_source_type() -> str:
        return "fincast"

    def load(self) -> str:
        """The location of the data (a folder, a file, or ``yahoo`` for yfinance)."""
        return self.location

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False  # built explicitly by fincast, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> FincastDatasetSource:
        raise NotImplementedError("fincast builds its dataset sources explicitly")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": self.location, "tickers": self.tickers}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> FincastDatasetSource:
        return cls(
            str(source_dict.get("kind", "")),
            str(source_dict.get("location", "")),
            list(source_dict.get("tickers", [])),
        )


def register_keras_objects_when_keras_loads() -> None:
    """Register fincast's Keras objects now if Keras is loaded, else right after it loads."""
    if "keras" in sys.modules:
        _register()
    elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())


def _register() -> None:
    try:
        from fincast.models.serializable import register_keras_objects

        register_keras_objects()
    except Exception as error:  # never break the caller's Keras import
        logger.warning("fincast could not register its Keras layers: %s", error)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps Keras' own loader to register fincast after it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        loader = spec.loader if spec else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        load_keras = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load_keras(module)
            _register()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


register_keras_objects_when_keras_loads()
