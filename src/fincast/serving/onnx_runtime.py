"""Serve an exported ``.onnx`` model through onnxruntime, with no Keras backend imported.

:func:`fincast.serving.forecast.load_forecaster` returns an :class:`OnnxForecaster`
for a ``.onnx`` path; :func:`fincast.serving.forecast.forecast_panel` and the rest of
the forecast flow work on it unchanged (see :mod:`fincast.serving.onnx_export`).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fincast.serving.forecast import CARD_SUFFIX, Forecaster

RUNTIME = "onnxruntime"
CARD_KEYS = ("features", "lookback", "horizon", "tickers")


@dataclass
class OnnxForecaster(Forecaster):
    """A :class:`Forecaster` whose ``model`` is an ``onnxruntime.InferenceSession``."""

    runtime: ClassVar[str] = RUNTIME

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """Forecast for input windows ``(n, lookback, features)`` with onnxruntime."""
        name = self.model.get_inputs()[0].name
        batch = np.ascontiguousarray(window, dtype=np.float32)
        return np.asarray(self.model.run(None, {name: batch})[0])


def load_onnx_forecaster(path: str | Path, model_uri: str | None = None) -> OnnxForecaster:
    """Load an exported ``.onnx`` file and the card beside it (``.json``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: onnxruntime missing, not an ONNX model, or a card without the
            entries a forecast needs.
    """
    path = Path(path)
    uri = model_uri or str(path)
    if not path.is_file():
        raise FileNotFoundError(f"Model file {uri!r} does not exist.")
    if importlib.util.find_spec("onnxruntime") is None:
        raise ValueError(
            f"Serving {uri!r} needs onnxruntime; install it with: pip install 'fincast[onnx]'."
        )
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf errors
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"Cannot load the ONNX model at {uri!r} ({type(error).__name__}: {reason}); "
            "export it again with fincast-export."
        ) from error
    card = _card_of(path, uri)
    return OnnxForecaster(model=session, card=card, uri=uri)


def _card_of(path: Path, uri: str) -> dict[str, Any]:
    card_path = path.with_suffix(CARD_SUFFIX)
    card: dict[str, Any] = json.loads(card_path.read_text()) if card_path.is_file() else {}
    for key in CARD_KEYS:
        if key not in card:
            raise ValueError(
                f"Model {uri!r} has no fincast card entry {key!r} (in {card_path.name}); "
                "export it with fincast-export, which writes the card beside it."
            )
    return card
