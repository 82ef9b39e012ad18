"""Training: it learns, callbacks stop / cut the rate, progress fits the terminal, seeds repeat."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from fincast.fitting.fit import (
    LearningRateSchedule,
    jit_compile_setting,
    progress_verbosity,
    save_model,
    set_seed,
    train_model,
)
from fincast.models.builders import BUILDERS, build_lstm, build_mlp, fit_scaling
from fincast.models.losses import PinballLoss

SMALL = {
    "mlp": {"units": [8]},
    "lstm": {"units": 4, "pooling": "attention", "attention_units": 3},
    "cnn": {"filters": [4], "dense_units": 8},
    "t2v_attention": {"time2vec_dim": 3, "units": 4, "attention_units": 3},
}


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


def test_reduce_lr_on_plateau_cuts_the_rate():
    inputs, targets = _learnable(count=128)
    noise = np.random.default_rng(4).normal(size=targets.shape).astype("float32")
    set_seed(3)
    schedule = LearningRateSchedule(0.05, patience=1, factor=0.5, min_learning_rate=0.01)
    result = train_model(
        _model(inputs, noise, units=[32]),
        (inputs, noise),
        (inputs[:32], noise[:32] * 3),
        epochs=8,
        batch_size=32,
        learning_rate=schedule,
        patience=0,
        verbose=0,
    )
    rates = result.history["learning_rate"]
    assert rates[0] == pytest.approx(0.05) and min(rates) < 0.05
    assert min(rates) >= 0.01 - 1e-9


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"learning_rate": 0.0}, "learning_rate=0.0"),
        ({"patience": -1}, "patience=-1"),
        ({"factor": 1.0}, "factor=1.0"),
    ],
)
def test_learning_rate_schedule_rejects_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        LearningRateSchedule(**options)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal():
    assert progress_verbosity("auto", _Stream(tty=True)) == 1
    assert progress_verbosity("auto", _Stream(tty=False)) == 2
    assert progress_verbosity(0, _Stream(tty=True)) == 0
    with pytest.raises(ValueError, match="verbose='loud'"):
        progress_verbosity("loud")


def test_auto_progress_in_a_pipe_is_one_line_per_epoch(capsys):
    inputs, targets = _learnable(count=64)
    train_model(_model(inputs, targets), (inputs, targets), epochs=2, batch_size=32)
    output = capsys.readouterr().out
    assert "\r" not in output and "━" not in output  # no progress bar redraws
    assert output.count("Epoch ") == 2 and output.count("loss:") == 2


def test_quantile_training_with_pinball_loss():
    inputs, targets = _learnable(count=256)
    noisy = targets + np.random.default_rng(5).normal(0, 0.5, targets.shape).astype("float32")
    set_seed(4)
    model = _model(inputs, noisy, quantiles=[0.1, 0.5, 0.9], units=[16])
    result = train_model(
        model,
        (inputs, noisy),
        epochs=20,
        batch_size=32,
        learning_rate=1e-2,
        loss=PinballLoss([0.1, 0.5, 0.9]),
        verbose=0,
    )
    assert "mae" not in result.history  # MAE of a quantile output would mislead
    assert result.history["loss"][-1] < result.history["loss"][0]
    forecasts = model.predict(inputs, verbose=0)
    coverage = np.mean((noisy >= forecasts[..., 0]) & (noisy <= forecasts[..., 2]))
    assert 0.6 < coverage < 0.95  # the 10-90 % interval holds about 80 % on its training data


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_same_seed_gives_identical_weights(name):
    inputs, targets = _learnable(count=64)

    def run():
        set_seed(7)
        model = _model(inputs, targets, builder=BUILDERS[name], dropout=0.1, **SMALL[name])
        train_model(model, (inputs, targets), epochs=1, batch_size=16, verbose=0)
        return model.get_weights()

    for first, second in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(first, second)


SEED_WITHOUT_TENSORFLOW = """
import sys
import numpy as np
from fincast.models.builders import build_lstm, fit_scaling
from fincast.fitting.fit import set_seed, train_model

inputs = np.random.default_rng(0).normal(size=(64, 8, 2)).astype("float32")
targets = inputs[:, -1, :1]

def weights():
    set_seed(7)
    model = build_lstm(lookback=8, num_features=2, horizon=1, units=4, dropout=0.1,
                       scaling=fit_scaling(inputs, targets))
    train_model(model, (inputs, targets), epochs=1, batch_size=16, verbose=0)
    return model.get_weights()

first, second = weights(), weights()
assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
assert "tensorflow" not in sys.modules, "set_seed imported TensorFlow"
print("ok")
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_seeding_repeats_without_importing_tensorflow(backend):
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", SEED_WITHOUT_TENSORFLOW],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_bad_arguments_are_named():
    inputs, targets = _learnable(count=16)
    with pytest.raises(ValueError, match="epochs=0"):
        train_model(_model(inputs, targets), (inputs, targets), epochs=0)


@pytest.mark.parametrize(("setting", "compiled"), [("auto", True), (False, False), ("true", True)])
def test_jit_compile_reaches_keras(setting, compiled):
    inputs, targets = _learnable(count=64)
    result = train_model(
        _model(inputs, targets), (inputs, targets), epochs=1, verbose=0, jit_compile=setting
    )
    assert result.model.jit_compile is compiled and result.jit_compile is compiled
    assert np.isfinite(result.history["loss"]).all()


@pytest.mark.parametrize("setting", ["yes", 1, None, "xla"])
def test_unknown_jit_compile_is_named(setting):
    with pytest.raises(ValueError, match="training.jit_compile must be auto, true or false"):
        jit_compile_setting(setting)


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


def test_lstm_shards_are_a_torch_matter(monkeypatch):
    """On JAX (this process's backend) the shard setting is not read and nothing shards."""
    monkeypatch.setenv("FINCAST_TORCH_LSTM_SHARDS", "not read here")
    inputs, targets = _learnable(count=64)
    model = _model(inputs, targets, builder=build_lstm, units=4)
    result = train_model(model, (inputs, targets), epochs=1, verbose=0)
    assert result.lstm_shards == 1
