"""The main job on the bundled data: honest split, baselines, card, saved model, forecasts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fincast.data.windows import make_windows, validation_split
from fincast.evaluation.folds import holdout_fold
from fincast.tracking.names import registered_name


def test_outcome_scores_model_next_to_baselines(tiny_outcome):
    _, outcome = tiny_outcome
    assert list(outcome.scores.index) == ["model", "naive", "historical_mean"]
    assert outcome.scores.loc["naive", "mae_vs_naive"] == 1.0
    assert np.isfinite(outcome.scores.loc["model", "mae"])


def test_card_describes_the_model(tiny_outcome):
    job, outcome = tiny_outcome
    card = outcome.card
    assert card["features"] == job.features.names
    assert card["lookback"] == 10 and card["horizon"] == 3
    assert card["tickers"] == ["^GSPC", "^IXIC"] and card["pooling"] == "pooled"
    assert card["backend"] == "jax"
    assert card["train_end"] < card["test_start"] <= card["test_end"] == "2018-12-31"
    saved = json.loads(outcome.model_path.with_suffix(".json").read_text())
    assert saved == card
    assert (
        outcome.model_path.parent.name
        == registered_name("returns", "lstm")
        == "fincast-returns-lstm"
    )


def test_forecasts_cover_every_ticker(tiny_outcome):
    _, outcome = tiny_outcome
    assert [forecast.ticker for forecast in outcome.forecasts] == ["^GSPC", "^IXIC"]
    for forecast in outcome.forecasts:
        assert forecast.as_of == "2018-12-31"
        assert len(forecast.dates) == 3 and forecast.dates[0] > forecast.as_of
        expected = forecast.last_price * np.exp(np.cumsum(forecast.values))
        np.testing.assert_allclose(forecast.prices, expected)


def _windows(rows=400, lookback=10, horizon=3):
    dates = pd.bdate_range("2020-01-01", periods=rows, name="date")
    frame = pd.DataFrame({"log_return": np.arange(rows, dtype="float32")}, index=dates)
    return {"A": make_windows(frame, "log_return", lookback=lookback, horizon=horizon)}


@pytest.mark.parametrize("embargo", [None, 3, 10])
def test_split_never_lets_training_targets_reach_later_parts(embargo):
    windows = _windows()
    fold = holdout_fold(windows["A"], {}, horizon=3, test_days=50, embargo=embargo)
    train, validation = validation_split(fold.train, 0.15, embargo=embargo or 3)
    assert train.last_target.max() < validation.first_target.min()
    assert validation.last_target.max() < fold.test.first_target.min()
    test_start = fold.test.first_target.min()
    assert test_start == windows["A"].first_target[-50]
    gap = np.searchsorted(windows["A"].first_target, test_start)
    gap -= np.searchsorted(windows["A"].first_target, validation.first_target.max())
    assert gap > 3 + (embargo or 3) - 1


def test_split_rejects_embargo_shorter_than_horizon():
    with pytest.raises(ValueError, match="embargo=1"):
        holdout_fold(_windows()["A"], {}, horizon=3, test_days=50, embargo=1)


def test_split_rejects_too_many_test_days():
    with pytest.raises(ValueError, match="test_days=5000"):
        holdout_fold(_windows()["A"], {}, horizon=3, test_days=5000)


def test_model_files_never_collide_and_the_card_is_written_beside(tiny_outcome, tmp_path):
    from fincast.training.pipeline import model_file, save_card

    job, outcome = tiny_outcome
    names = {model_file(job, "fincast-returns-lstm") for _ in range(50)}
    assert len(names) == 50  # same second, distinct files
    card = save_card({"a": 1}, tmp_path / "m.json")
    assert json.loads(card.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == [
        "m.json"
    ]
    assert outcome.model_path.with_suffix(".json").is_file()
