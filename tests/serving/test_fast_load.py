"""Start-up helpers of the forecast command: loading without random weights, lean Keras."""

from __future__ import annotations

import sys
import threading

import keras
import numpy as np
import pytest

from fincast.serving import lean_keras
from fincast.serving.fast_load import weights_from_file
from fincast.serving.forecast import load_forecaster


def test_a_model_loaded_without_random_weights_equals_the_saved_one(tiny_outcome):
    _, outcome = tiny_outcome
    plain = keras.saving.load_model(outcome.model_path, compile=False, safe_mode=True)
    loaded = load_forecaster(str(outcome.model_path)).model
    assert len(loaded.weights) == len(plain.weights) > 0
    for mine, theirs in zip(loaded.weights, plain.weights, strict=True):
        assert mine.path == theirs.path
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_random_initializers_are_left_alone_outside_the_block_and_on_other_threads():
    def kernel() -> np.ndarray:
        layer = keras.layers.Dense(8, kernel_initializer="glorot_uniform")
        layer.build((None, 4))
        return np.asarray(layer.kernel)

    on_other_thread: list[np.ndarray] = []
    with weights_from_file():
        assert not kernel().any()  # zeros: a loaded file would set them
        worker = threading.Thread(target=lambda: on_other_thread.append(kernel()))
        worker.start()
        worker.join()
    assert on_other_thread[0].any()
    assert kernel().any()


def test_keras_extras_read_as_missing_only_inside_the_block(tmp_path, monkeypatch):
    (tmp_path / "fincast_probe_extra.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(lean_keras, "EXTRAS", ("fincast_probe_extra",))
    assert lean_keras.extras_for("jax") == ["fincast_probe_extra"]
    assert lean_keras.extras_for("torch") == ["fincast_probe_extra", "jax"]
    with lean_keras.keras_extras_left_out("jax"), pytest.raises(ImportError):
        import fincast_probe_extra
    assert "fincast_probe_extra" not in sys.modules
    import fincast_probe_extra

    assert fincast_probe_extra.VALUE == 1
    monkeypatch.delitem(sys.modules, "fincast_probe_extra")
