"""Export a fincast model as ONNX, checked against Keras, with its card beside it.

The export runs on the TensorFlow backend through Keras' ``model.export(format="onnx")``
(tf2onnx): TensorFlow is always installed with fincast, and tf2onnx converts every
fincast family (mlp, lstm, cnn, t2v_attention) with fincast's own layers. Each file is
checked before it is kept: onnxruntime's forecasts of probe windows must equal the
Keras model's within :data:`TOLERANCE`. A model that cannot be exported is refused in
one line naming the first layer that cannot be, and why. Serve the file with
:func:`fincast.serving.forecast.load_forecaster` (onnxruntime, no Keras).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import re
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ONNX_SUFFIX = ".onnx"
CARD_SUFFIX = ".json"
# the largest |onnxruntime - Keras| allowed, absolute (relative where a forecast exceeds 1)
TOLERANCE = 1e-5
PROBE_WINDOWS = 16
EXPORT_BACKEND = "tensorflow"
INSTALL_HINT = "install it with: pip install 'fincast[onnx]'"


class OnnxExportError(ValueError):
    """A model that cannot be exported as ONNX, or whose export would forecast otherwise."""


@dataclass(frozen=True)
class OnnxExport:
    """Where an export went and how close its forecasts are to the Keras model's."""

    path: Path
    card_path: Path
    max_difference: float


def export_model(
    model_uri: str, output: str | Path | None = None, tracking_uri: str | None = None
) -> OnnxExport:
    """Export a saved (``.keras``) or registered model as ONNX, its card beside it.

    Args:
        model_uri: a ``.keras`` file (card beside it) or an MLflow model URI.
        output: the ``.onnx`` file to write (required for an MLflow URI); default:
            ``onnx/<stem>.onnx`` beside the ``.keras`` file (:func:`default_output`).
        tracking_uri: the MLflow tracking URI of a registered model.

    Raises:
        OnnxExportError: a layer that cannot be exported, or forecasts that differ.
        ValueError: a model fincast cannot load, or a bad ``output``.
    """
    from fincast.serving.forecast import load_forecaster

    target = _output_path(model_uri, output)
    forecaster = load_forecaster(model_uri, tracking_uri)
    windows = probe_windows(forecaster.model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staged = Path(scratch) / target.name
        difference = export_onnx(forecaster.model, staged, windows=windows)
        card = {
            **forecaster.card,
            "format": "onnx",
            "exported_from": model_uri,
            "onnx_max_difference": difference,
        }
        staged_card = staged.with_suffix(CARD_SUFFIX)
        staged_card.write_text(json.dumps(card, indent=2, sort_keys=True))
        staged.replace(target)
        staged_card.replace(target.with_suffix(CARD_SUFFIX))
    return OnnxExport(target, target.with_suffix(CARD_SUFFIX), difference)


def _output_path(model_uri: str, output: str | Path | None) -> Path:
    """The ``.onnx`` path to write: ``output``, or beside a ``.keras`` source."""
    source = Path(model_uri)
    if output is None:
        if source.suffix != ".keras":
            raise ValueError(
                f"output must be set to export {model_uri!r} (not a .keras file). "
                "Received: output=None"
            )
        return default_output(source)
    target = Path(output)
    if target.suffix != ONNX_SUFFIX:
        raise ValueError(f"output must be a path ending in .onnx. Received: output={str(output)!r}")
    sibling = target.with_suffix(".keras")
    if sibling.exists():  # the two would share one card file
        raise ValueError(
            f"output={str(output)!r} would write its card over {sibling.name}'s "
            f"({target.with_suffix(CARD_SUFFIX).name}); choose another name or folder, "
            f"e.g. output={default_output(sibling)}"
        )
    return target


def default_output(source: Path) -> Path:
    """Where an export of ``source`` goes by default: ``onnx/<stem>.onnx`` beside it, so its
    card never replaces the ``.keras`` file's (both are ``<stem>.json``)."""
    return source.parent / "onnx" / f"{source.stem}{ONNX_SUFFIX}"


def export_onnx(
    model: Any,
    path: str | Path,
    *,
    windows: np.ndarray | None = None,
    tolerance: float = TOLERANCE,
) -> float:
    """Write ``model`` (a Keras model on TensorFlow) as ONNX at ``path``, checked.

    Returns the largest difference between onnxruntime's and Keras' forecasts of
    ``windows`` (default: :func:`probe_windows`). Nothing is left at ``path`` when the
    export fails.

    Raises:
        OnnxExportError: another backend, tf2onnx or onnxruntime missing, a layer that
            cannot be exported (named), or forecasts further apart than ``tolerance``.
    """
    _check_can_export()
    path = Path(path)
    probe = probe_windows(model) if windows is None else np.asarray(windows, dtype="float32")
    expected = np.asarray(model.predict(probe, verbose=0))
    try:
        _convert(model, path)
        difference = onnx_difference(path, probe, expected)
    except Exception as error:
        path.unlink(missing_ok=True)
        raise OnnxExportError(_why_not(model, error)) from error
    if not difference <= tolerance:
        path.unlink(missing_ok=True)
        raise OnnxExportError(
            f"the ONNX model's forecasts differ from the Keras model's by {difference:.2e}, "
            f"more than {tolerance:.0e}; the model was not exported."
        )
    return difference


def _check_can_export() -> None:
    import keras

    backend = keras.backend.backend()
    if backend != EXPORT_BACKEND:
        raise OnnxExportError(
            "ONNX export runs on the TensorFlow backend (tf2onnx); start the process with "
            f"KERAS_BACKEND=tensorflow. Received: backend={backend!r}"
        )
    for module in ("tf2onnx", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            raise OnnxExportError(f"ONNX export needs {module}; {INSTALL_HINT}.")


def probe_windows(model: Any, count: int = PROBE_WINDOWS, seed: int = 0) -> np.ndarray:
    """Random windows of ``model``'s input shape, in the units its normaliser expects.

    Where the model starts with a Keras ``Normalization`` layer, the windows are drawn
    around its training-slice mean and standard deviation, so the probe sees inputs
    like real ones.
    """
    import keras

    shape = tuple(int(size) for size in model.inputs[0].shape[1:])
    noise = np.random.default_rng(seed).standard_normal((count, *shape))
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.mean is not None:
            mean = np.asarray(layer.mean, dtype="float64").reshape(-1)
            scale = np.sqrt(np.asarray(layer.variance, dtype="float64")).reshape(-1)
            noise = mean + scale * noise
            break
    return noise.astype("float32")


def onnx_difference(path: str | Path, windows: np.ndarray, expected: np.ndarray) -> float:
    """The largest |onnxruntime - ``expected``| over ``windows``, relative where above 1."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = np.asarray(session.run(None, {name: windows})[0], dtype="float64")
    if got.shape != expected.shape:
        raise ValueError(f"ONNX output shape {got.shape} is not Keras' {expected.shape}")
    gap = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    return float(gap.max(initial=0.0))


class UnsupportedOps(logging.Handler):
    """Collects the TensorFlow ops tf2onnx reports it cannot convert (it logs, not raises)."""

    PATTERN = re.compile(r"Tensorflow op \[.*: (\w+)\] is not supported")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.ops: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if match and match.group(1) not in self.ops:
            self.ops.append(match.group(1))


def _convert(model: Any, path: Path) -> None:
    """Keras' ONNX export (tf2onnx), quiet, with Normalization statistics as constants.

    LSTMs are traced as Keras' loop, which tf2onnx turns into ONNX's LSTM op (it has no
    conversion for TensorFlow's fused ``BlockLSTM``).

    Raises:
        ValueError: tf2onnx met TensorFlow ops it has no ONNX conversion for.
    """
    from fincast.models.fused_lstm import keras_loop

    logger = logging.getLogger("tf2onnx")
    unsupported = UnsupportedOps()
    kept = logger.level, logger.propagate
    logger.addHandler(unsupported)
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    try:
        with _normalization_as_constants(model), keras_loop(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.export(str(path), format="onnx", verbose=False)
    finally:
        logger.removeHandler(unsupported)
        logger.level, logger.propagate = kept
    if unsupported.ops:
        raise ValueError(
            f"tf2onnx has no ONNX conversion for TensorFlow op {', '.join(unsupported.ops)}"
        )


@contextlib.contextmanager
def _normalization_as_constants(model: Any) -> Iterator[None]:
    """Hold ``Normalization`` statistics as numpy arrays for the export.

    The layer keeps them as eager tensors, which tf2onnx turns into extra graph inputs
    (``normalise/Sub/y:0``) instead of constants; numpy arrays are traced as constants.
    """
    import keras

    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.Normalization) and layer.mean is not None
    ]
    kept = [(layer.mean, layer.variance) for layer in layers]
    for layer in layers:
        layer.mean, layer.variance = np.asarray(layer.mean), np.asarray(layer.variance)
    try:
        yield
    finally:
        for layer, (mean, variance) in zip(layers, kept, strict=True):
            layer.mean, layer.variance = mean, variance


def _why_not(model: Any, error: BaseException) -> str:
    """One line naming the first layer that cannot be exported alone, and why."""
    with tempfile.TemporaryDirectory() as scratch:
        for index, layer in enumerate(model.layers):
            if not _single_input(layer):
                continue
            try:
                alone, probe = _layer_alone(layer)
                expected = np.asarray(alone.predict(probe, verbose=0))
                trial = Path(scratch) / f"layer_{index}.onnx"
                _convert(alone, trial)
                onnx_difference(trial, probe, expected)
            except Exception as layer_error:
                return (
                    f"layer {layer.name!r} ({type(layer).__name__}) cannot be exported "
                    f"to ONNX: {_one_line(layer_error)}"
                )
    return f"the model cannot be exported to ONNX: {_one_line(error)}"


def _single_input(layer: Any) -> bool:
    """Whether ``layer`` can be tried alone: one input, not the model's input itself."""
    import keras

    if isinstance(layer, keras.layers.InputLayer):
        return False
    return not isinstance(layer.input, list | tuple)


def _layer_alone(layer: Any) -> tuple[Any, np.ndarray]:
    """``layer`` as a one-layer model on an input of its shape, and a probe for it."""
    import keras

    source = layer.input
    shape = tuple(source.shape[1:])
    window = keras.Input(shape=shape, dtype=source.dtype)
    alone = keras.Model(window, layer(window))
    probe = np.random.default_rng(0).standard_normal((2, *shape)).astype("float32")
    return alone, probe


def _one_line(error: BaseException) -> str:
    """``error``'s first line, without a trailing full stop, at most 200 characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    kind = "" if type(error) is ValueError else f"{type(error).__name__}: "
    return f"{kind}{text.rstrip('.')[:200]}"
