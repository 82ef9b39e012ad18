"""Safe loading: crafted ``.keras`` archives are refused and nothing in them runs.

Each case starts from a real fincast model saved by ``save_model``, changes one
thing in its archive, and puts a valid card beside it, so that only the model file
itself is judged. ``load_forecaster`` (``keras.saving.load_model(safe_mode=True)``)
must raise ``ValueError`` with a one-line message, and the payload's marker file
must not exist afterwards. Where a payload could run, a control check first shows
that it does run when loaded unsafely, so a passing test means "refused", not
"the payload was broken".
"""

from __future__ import annotations

import base64
import copy
import io
import json
import marshal
import os
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from fincast.fitting.fit import save_model
from fincast.models.builders import build_mlp, fit_scaling
from fincast.serving.forecast import load_forecaster

CARD = {"features": ["log_return"], "lookback": 4, "horizon": 1, "tickers": ["TEST"]}
Config = dict[str, Any]


def _small_model(units: int = 3) -> keras.Model:
    inputs = np.random.default_rng(0).normal(size=(16, 4, 1)).astype("float32")
    targets = inputs[:, -1, :]
    return build_mlp(
        lookback=4,
        num_features=1,
        horizon=1,
        scaling=fit_scaling(inputs, targets),
        units=(units,),
    )


@pytest.fixture(scope="module")
def base_archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Members of a genuine fincast model archive, by name."""
    path = save_model(_small_model(), tmp_path_factory.mktemp("base") / "base.keras")
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file that a payload would create; it must never exist."""
    return tmp_path / f"pwned-{uuid.uuid4().hex}"


def _write_archive(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.with_suffix(".json").write_text(json.dumps(CARD))
    return path


def _with_config(base: dict[str, bytes], edit: Callable[[Config], None]) -> dict[str, bytes]:
    config = json.loads(base["config.json"])
    edit(config)
    return {**base, "config.json": json.dumps(config).encode()}


def _layer(config: Config, name: str) -> Config:
    return next(layer for layer in config["config"]["layers"] if layer["name"] == name)


def _marker_lambda_source(marker: Path) -> str:
    return f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]"


def _marshalled_lambda(marker: Path) -> str:
    """Base64 of marshalled bytecode of a lambda that writes ``marker`` (Keras' format)."""
    function = eval(_marker_lambda_source(marker))
    return base64.b64encode(marshal.dumps(function.__code__)).decode("ascii")


def _turn_into_payload_lambda(layer: Config, marker: Path) -> Config:
    """Rewrite a layer entry in place into a Keras ``Lambda`` whose code writes ``marker``."""
    layer.update(module="keras.layers", class_name="Lambda", registered_name=None)
    layer["config"] = {
        "name": layer["name"],
        "function": {
            "class_name": "__lambda__",
            "config": {"code": _marshalled_lambda(marker), "defaults": None, "closure": None},
        },
        "arguments": {},
    }
    return layer


def _assert_refused(path: Path, marker: Path | None = None, reason: str = "") -> str:
    """Loading fails with a one-line ``ValueError`` naming the file (and ``reason``)."""
    with pytest.raises(ValueError) as raised:
        load_forecaster(str(path))
    message = str(raised.value)
    assert "\n" not in message, f"Error message is not one line: {message!r}"
    assert str(path) in message
    assert re.search(reason, message), f"Refused for another reason than {reason!r}: {message}"
    if marker is not None:
        assert not marker.exists(), f"Payload ran while loading {path.name}: {marker} exists"
    return message


# 1. Lambda layers carrying marshalled bytecode.


def test_lambda_layer_with_marshalled_bytecode_is_refused_and_never_runs(tmp_path, marker):
    inputs = keras.Input((4, 1))
    outputs = keras.layers.Lambda(eval(_marker_lambda_source(marker)), name="payload")(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran the lambda once; start clean
    path.with_suffix(".json").write_text(json.dumps(CARD))

    keras.saving.load_model(path, safe_mode=False)  # control: unsafe loading runs it
    assert marker.exists()
    marker.unlink()

    _assert_refused(path, marker, reason="`Lambda` layer whose `function` is a Python lambda")


def test_marshalled_lambda_as_activation_is_refused(tmp_path, base_archive, marker):
    def edit(config: Config) -> None:
        _layer(config, "dense_0")["config"]["activation"] = {
            "class_name": "__lambda__",
            "config": {"value": [_marshalled_lambda(marker), None, None]},
        }

    path = _write_archive(tmp_path / "activation.keras", _with_config(base_archive, edit))
    _assert_refused(path, marker, reason="deserialization of a Python lambda")


def test_lambda_code_swapped_into_a_layer_config_is_refused(tmp_path, base_archive, marker):
    def edit(config: Config) -> None:
        _turn_into_payload_lambda(_layer(config, "flatten"), marker)

    path = _write_archive(tmp_path / "swapped.keras", _with_config(base_archive, edit))
    _assert_refused(path, marker, reason="`Lambda` layer whose `function` is a Python lambda")


# 2. Configs naming non-Keras modules or non-modeling Keras functions.

LOCATE_CLASS = "Could not locate class"
FOREIGN_OBJECTS = {  # (module, class_name) as a layer entry -> why Keras refuses it
    "os.system layer": ("os", "system", LOCATE_CLASS),
    "subprocess.Popen layer": ("subprocess", "Popen", LOCATE_CLASS),
    "builtins.eval layer": ("builtins", "eval", LOCATE_CLASS),
    "keras.src internals": ("keras.src.saving.saving_lib", "load_model", "not a KerasSaveable"),
}


@pytest.mark.parametrize(
    ("module", "class_name", "reason"), FOREIGN_OBJECTS.values(), ids=FOREIGN_OBJECTS.keys()
)
def test_layer_naming_a_foreign_callable_is_refused(
    tmp_path, base_archive, marker, module, class_name, reason
):
    def edit(config: Config) -> None:
        flatten = _layer(config, "flatten")
        flatten.update(module=module, class_name=class_name, registered_name=None)
        flatten["config"] = {"command": f"touch {marker}", "args": ["touch", str(marker)]}

    path = _write_archive(tmp_path / "foreign.keras", _with_config(base_archive, edit))
    _assert_refused(path, marker, reason=reason)


LOCATE_FUNCTION, NON_MODELING = "Could not locate function", "not a modeling function"
FOREIGN_FUNCTIONS = {  # (module, function name) as an activation -> why Keras refuses it
    "os.system": ("os", "system", LOCATE_FUNCTION),
    "builtins.eval": ("builtins", "eval", LOCATE_FUNCTION),
    "builtins.exec": ("builtins", "exec", LOCATE_FUNCTION),
    "keras.config.enable_unsafe_deserialization": (
        "keras.config",
        "enable_unsafe_deserialization",
        NON_MODELING,
    ),
    "keras.utils.get_file": ("keras.utils", "get_file", NON_MODELING),
}


@pytest.mark.parametrize(
    ("module", "function", "reason"), FOREIGN_FUNCTIONS.values(), ids=FOREIGN_FUNCTIONS.keys()
)
def test_function_naming_a_foreign_callable_is_refused(
    tmp_path, base_archive, marker, module, function, reason
):
    """A foreign function as an activation; a Lambda after it would run if safe mode fell."""

    def edit(config: Config) -> None:
        _layer(config, "dense_0")["config"]["activation"] = {
            "module": module,
            "class_name": "function",
            "config": function,
            "registered_name": "function",
        }
        flatten = _turn_into_payload_lambda(_layer(config, "flatten"), marker)
        layers = config["config"]["layers"]  # the payload layer is deserialised last
        layers.append(layers.pop(layers.index(flatten)))

    path = _write_archive(tmp_path / "function.keras", _with_config(base_archive, edit))
    _assert_refused(path, marker, reason=reason)
    from keras.src.saving import serialization_lib

    assert serialization_lib.in_safe_mode() is not False, "safe mode was switched off"


# 3. Tampered archives.


def _truncated(base: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in base.items():
            archive.writestr(name, data)
    whole = buffer.getvalue()
    return whole[: len(whole) // 2]


def _foreign_weights(base: dict[str, bytes]) -> dict[str, bytes]:
    buffer = io.BytesIO()
    other = _small_model(units=5)
    with tempfile.TemporaryDirectory() as directory:
        other_path = save_model(other, Path(directory) / "other.keras")
        with zipfile.ZipFile(other_path) as archive:
            buffer.write(archive.read("model.weights.h5"))
    return {**base, "model.weights.h5": buffer.getvalue()}


TAMPERED: dict[str, Callable[[dict[str, bytes]], dict[str, bytes]]] = {
    "weights replaced with garbage": lambda base: {**base, "model.weights.h5": b"\x89HDF" * 64},
    "weights missing": lambda base: {k: v for k, v in base.items() if k != "model.weights.h5"},
    "weights of another architecture": _foreign_weights,
    "config.json not JSON": lambda base: {**base, "config.json": b'{"module": "keras.src'},
    "config.json missing": lambda base: {k: v for k, v in base.items() if k != "config.json"},
    "config.json a JSON list": lambda base: {**base, "config.json": b"[1, 2, 3]"},
}


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_archive_is_refused(tmp_path, base_archive, tamper):
    _assert_refused(_write_archive(tmp_path / "tampered.keras", tamper(base_archive)))


def test_truncated_archive_is_refused(tmp_path, base_archive):
    path = tmp_path / "truncated.keras"
    path.write_bytes(_truncated(base_archive))
    path.with_suffix(".json").write_text(json.dumps(CARD))
    _assert_refused(path)


# 4. Path traversal in member names.

TRAVERSAL_NAMES = {
    "parent": "../{name}",
    "deep parent": "assets/../../{name}",
    "absolute": "/tmp/{name}",
    "backslash": "..\\{name}",
}


@pytest.mark.parametrize("pattern", TRAVERSAL_NAMES.values(), ids=TRAVERSAL_NAMES.keys())
def test_member_escaping_the_archive_is_refused(tmp_path, base_archive, pattern, monkeypatch):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    name = f"fincast-evil-{uuid.uuid4().hex}"
    members = {**base_archive, pattern.format(name=name): b"escaped"}
    path = _write_archive(tmp_path / "traversal.keras", members)
    _assert_refused(path, reason="points outside the archive")
    places = [tmp_path, workdir, Path(tempfile.gettempdir()), Path("/tmp"), Path.home()]
    escaped = [str(place / name) for place in places if (place / name).exists()]
    assert not escaped, f"Archive member written outside the archive: {escaped}"


def test_genuine_model_still_loads(tmp_path, base_archive):
    path = _write_archive(tmp_path / "genuine.keras", copy.deepcopy(base_archive))
    forecaster = load_forecaster(str(path))
    window = np.zeros((1, 4, 1), dtype="float32")
    assert forecaster.predict_window(window).shape == (1, 1)
    assert os.path.exists(path)
