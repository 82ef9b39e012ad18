"""Ticker and sector embeddings: read from the window's identity columns, saved and loaded
safely, unknown ids on the shared 0 row, and the numeric columns normalised without them."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from fincast.models.builders import build_lstm, fit_scaling
from fincast.models.identity import IdentityEmbedding, TakeColumns


def _windows(count: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(count, 6, 2)).astype("float32")
    tickers = np.repeat(rng.integers(1, 4, size=(count, 1, 1)), 6, axis=1).astype("float32")
    sectors = np.where(tickers > 2, 2.0, 1.0).astype("float32")
    return np.concatenate([numeric, tickers, sectors], axis=-1), rng.normal(size=(count, 2))


def test_each_window_gets_its_rows_of_the_tables() -> None:
    inputs, _ = _windows()
    layer = IdentityEmbedding([2, 3], [4, 3], dim=5)
    output = keras.ops.convert_to_numpy(layer(inputs))
    assert output.shape == (40, 6, 10)
    tickers, sectors = (keras.ops.convert_to_numpy(layer.tables[i]) for i in (0, 1))
    for row in (0, 7, 21):
        expected = np.concatenate(
            [tickers[int(inputs[row, -1, 2])], sectors[int(inputs[row, -1, 3])]]
        )
        np.testing.assert_allclose(output[row], np.tile(expected, (6, 1)), rtol=1e-6)
    unseen = inputs[:1].copy()
    unseen[..., 2] = 9.0  # a ticker the model never saw: the unknown row 0
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(unseen))[0, 0, :5], tickers[0], rtol=1e-6
    )


def test_a_global_lstm_with_embeddings_saves_and_loads_in_safe_mode(tmp_path) -> None:
    inputs, targets = _windows()
    scaling = fit_scaling(inputs, targets, identity_sizes={2: 4, 3: 3}, embedding_dim=3)
    model = build_lstm(lookback=6, num_features=4, horizon=2, scaling=scaling, units=8)
    assert model.get_layer("numeric").columns == [0, 1]  # ids are not normalised
    before = model.predict(inputs, verbose=0)
    model.save(tmp_path / "global.keras")
    loaded = keras.saving.load_model(tmp_path / "global.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), before, rtol=1e-6)
    changed = inputs.copy()
    changed[..., 2] = np.where(changed[..., 2] == 1.0, 2.0, 1.0)  # swap two tickers' ids
    assert not np.allclose(model.predict(changed, verbose=0), before)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="one size per column"):
        IdentityEmbedding([2], [4, 3], dim=2)
    with pytest.raises(ValueError, match="at least one column"):
        TakeColumns([])


def _panel_windows():
    """Two tickers of very different scale, ids 1 and 2 in column 2 of every row."""
    from fincast.data.windows import Windows, concat_windows, make_windows

    rng = np.random.default_rng(5)
    parts = []
    for ticker_id, scale in ((1, 0.01), (2, 0.5)):
        dates = pd.bdate_range("2020-01-01", periods=120)
        values = rng.normal(scale=scale, size=(120, 2)) + 3 * scale
        frame = pd.DataFrame(
            {"r": values[:, 0], "x": values[:, 1], "ticker_id": float(ticker_id)}, index=dates
        ).astype("float32")
        parts.append(make_windows(frame, "r", lookback=5, horizon=2, ticker=f"T{ticker_id}"))
    panel: Windows = concat_windows(parts)
    return panel


def test_per_ticker_scaling_uses_each_tickers_own_training_statistics() -> None:
    from fincast.models.common import fit_ticker_scaling

    panel = _panel_windows()
    pooled = fit_scaling(panel.inputs, panel.targets)
    scaling = fit_ticker_scaling(pooled, panel, ticker_column=2)
    assert scaling.ticker_column == 2 and len(scaling.ticker_input_mean) == 3
    assert scaling.ticker_input_mean[0] == pooled.input_mean  # unknown ids: pooled
    for ticker_id in (1, 2):
        mask = panel.tickers == f"T{ticker_id}"
        dense = np.asarray(panel.inputs)[mask].reshape(-1, 3).astype("float64")
        np.testing.assert_allclose(scaling.ticker_input_mean[ticker_id], dense.mean(axis=0))
        np.testing.assert_allclose(
            scaling.ticker_target_scale[ticker_id], panel.targets[mask].std(axis=0), rtol=1e-5
        )
    model = build_lstm(lookback=5, num_features=3, horizon=2, scaling=scaling, units=4)
    head = model.get_layer("head")
    head.set_weights([np.zeros_like(weight) for weight in head.get_weights()])
    # a zero head forecasts the normalised 0: each window's own ticker's target mean
    forecasts = model.predict(np.asarray(panel.inputs), verbose=0)
    for ticker_id in (1, 2):
        mask = panel.tickers == f"T{ticker_id}"
        np.testing.assert_allclose(
            forecasts[mask],
            np.tile(scaling.ticker_target_mean[ticker_id], (mask.sum(), 1)),
            rtol=1e-5,
        )
    np.testing.assert_array_equal(model.get_layer("numeric").columns, [0, 1])


def test_training_hides_some_ids_so_the_unknown_row_is_learned() -> None:
    inputs, _ = _windows(2000)
    layer = IdentityEmbedding([2], [4], dim=3, unknown_rate=0.2, seed=1)
    layer.build(inputs.shape)
    unknown = keras.ops.convert_to_numpy(layer.tables[0])[0]
    trained = keras.ops.convert_to_numpy(layer(inputs, training=True))[:, 0, :]
    share = np.mean(np.all(np.isclose(trained, unknown), axis=1))
    assert 0.15 < share < 0.25  # about unknown_rate of the windows look up row 0
    served = keras.ops.convert_to_numpy(layer(inputs))[:, 0, :]
    assert not np.any(np.all(np.isclose(served, unknown), axis=1))  # never when predicting
