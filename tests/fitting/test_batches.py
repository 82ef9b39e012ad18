"""WindowBatches: every window once per epoch, a new order each epoch, and the same fit."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fincast.data.windows import WindowArray
from fincast.fitting.batches import WindowBatches, predict_windows


def _windows(count: int = 50) -> tuple[WindowArray, np.ndarray]:
    rows = np.random.default_rng(3).normal(size=(count + 7, 2)).astype("float32")
    targets = np.arange(count, dtype="float32")[:, None]
    return WindowArray(rows, np.arange(count), lookback=8), targets


def test_an_epoch_yields_every_window_once_and_reshuffles() -> None:
    inputs, targets = _windows()
    batches = WindowBatches(inputs, targets, batch_size=16, shuffle=True, seed=0)
    assert len(batches) == 4
    epoch = [batches[index] for index in range(len(batches))]
    seen = np.concatenate([batch[1][:, 0] for batch in epoch])
    assert sorted(seen.tolist()) == list(range(50))
    for windows, batch_targets in epoch:  # each window travels with its own target
        np.testing.assert_array_equal(windows, inputs.take(batch_targets[:, 0].astype(int)))
    batches.on_epoch_end()
    again = np.concatenate([batches[index][1][:, 0] for index in range(len(batches))])
    assert sorted(again.tolist()) == list(range(50)) and again.tolist() != seen.tolist()


def test_batches_split_evenly_over_devices() -> None:
    inputs, targets = _windows(37)
    batches = WindowBatches(inputs, targets, batch_size=8, multiple_of=4)
    sizes = [len(batches[index][0]) for index in range(len(batches))]
    assert sizes == [8, 8, 8, 8, 4]  # 37 windows: the last batch is cut from 5 to 4
    with pytest.raises(ValueError, match="multiple of 4"):
        WindowBatches(inputs, targets, batch_size=6, multiple_of=4)


def test_predict_in_batches_equals_predict_on_the_whole_array() -> None:
    inputs, _ = _windows(70)
    model = keras.Sequential([keras.Input((8, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])
    expected = model.predict(np.asarray(inputs), verbose=0)
    np.testing.assert_allclose(predict_windows(model, inputs, batch_size=32), expected, rtol=1e-6)


def test_fit_on_batches_learns() -> None:
    from fincast.fitting.fit import set_seed, train_model

    set_seed(0)
    rows = np.random.default_rng(0).normal(size=(400, 1)).astype("float32")
    inputs = WindowArray(rows, np.arange(390), lookback=10)
    targets = np.asarray(inputs)[:, -1, :] * 2.0  # the last value, doubled
    model = keras.Sequential([keras.Input((10, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    result = train_model(
        model, (inputs, targets), epochs=30, batch_size=32, learning_rate=0.05, verbose=0
    )
    assert result.history["loss"][-1] < 0.05 * result.history["loss"][0]
