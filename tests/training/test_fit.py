"""Training: it learns, early stopping restores the best weights, seeds repeat, saves are atomic."""

from __future__ import annotations

import numpy as np
import pytest

from fincast.models.builders import build_lstm, build_mlp, fit_scaling
from fincast.training.fit import save_model, set_seed, train_model


def _learnable(count=512, lookback=8, seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(count, lookback, 2)).astype("float32")
    targets = (inputs[:, -1, :1] * 0.5 + 0.1).astype("float32")  # depends on the last day
    return inputs, targets


def _model(inputs, targets, builder=build_mlp, **options):
    return builder(
        lookback=inputs.shape[1],
        num_features=inputs.shape[2],
        horizon=targets.shape[1],
        scaling=fit_scaling(inputs, targets),
        **options,
    )


def test_training_reduces_the_loss():
    inputs, targets = _learnable()
    set_seed(1)
    result = train_model(
        _model(inputs, targets),
        (inputs, targets),
        epochs=15,
        batch_size=64,
        learning_rate=1e-2,
        verbose=0,
    )
    losses = result.history["loss"]
    assert result.epochs == 15
    assert losses[-1] < 0.2 * losses[0]


def test_early_stopping_stops_and_restores_best():
    inputs, targets = _learnable()
    noise = np.random.default_rng(3).normal(size=targets.shape).astype("float32")
    set_seed(2)
    result = train_model(
        _model(inputs, noise, units=[64]),
        (inputs, noise),
        (inputs[:64], noise[:64] * 5),
        epochs=60,
        batch_size=32,
        learning_rate=1e-2,
        patience=2,
        verbose=0,
    )
    assert result.epochs < 60
    best = min(result.history["val_loss"])
    restored = float(np.mean((result.model.predict(inputs[:64], verbose=0) - noise[:64] * 5) ** 2))
    assert restored == pytest.approx(best, rel=1e-3)


def test_same_seed_gives_identical_weights():
    inputs, targets = _learnable(count=128)

    def run():
        set_seed(7)
        model = _model(inputs, targets, builder=build_lstm, units=4)
        train_model(model, (inputs, targets), epochs=2, batch_size=32, verbose=0)
        return model.get_weights()

    for first, second in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(first, second)


def test_bad_arguments_are_named():
    inputs, targets = _learnable(count=16)
    with pytest.raises(ValueError, match="epochs=0"):
        train_model(_model(inputs, targets), (inputs, targets), epochs=0)


def test_save_model_is_atomic_and_checks_suffix(tmp_path):
    inputs, targets = _learnable(count=16)
    model = _model(inputs, targets)
    path = save_model(model, tmp_path / "nested" / "model.keras")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["model.keras"]
    with pytest.raises(ValueError, match="must end in .keras"):
        save_model(model, tmp_path / "model.h5")


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    inputs, targets = _learnable(count=16)
    model = _model(inputs, targets)
    path = save_model(model, tmp_path / "model.keras")
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
