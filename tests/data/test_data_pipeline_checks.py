"""The main job with the data checks: policies, reports, tickers and training-only scaling."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fincast.data.loading import load_checked_bars
from fincast.data.sources import MarketDataError, load_sample
from fincast.specs import JobSpec
from fincast.training.pipeline import run_training
from jobs import make_job


def _csv(path: Path, bars: pd.DataFrame) -> Path:
    bars.rename_axis("date").reset_index().to_csv(path, index=False)
    return path


def _job(path: Path, tmp_path: Path, **overrides) -> JobSpec:
    settings = {
        "model": "mlp",
        "units": [4],
        "tickers": ["SPX"],
        "source": "csv",
        "options": {"path": str(path)},
        "lookback": 5,
        "horizon": 2,
        "epochs": 1,
        "test_days": 100,
        "verbose": 0,
        "models": str(tmp_path / "models"),
    }
    return make_job(**{**settings, **overrides})


def _checked(path: Path, tmp_path: Path, **overrides):
    """The job's bars after its data checks, as every command loads them."""
    job = _job(path, tmp_path, **overrides)
    return load_checked_bars(job.data, job.features.price)


@pytest.fixture(scope="module")
def recent() -> pd.DataFrame:
    return load_sample(["^GSPC"])["^GSPC"].loc["2015-01-01":]


def test_normalisation_comes_from_the_training_slice_only(recent, tmp_path):
    """Wildly different test-period data leave the model's scaling statistics unchanged."""
    job = _job(_csv(tmp_path / "a.csv", recent), tmp_path)
    first = run_training(job)
    wild = recent.copy()
    test_days = wild.index >= pd.Timestamp(first.card["test_start"]) - pd.Timedelta(days=3)
    scale = np.exp(np.linspace(0.0, 3.0, int(test_days.sum())))  # a 20-fold rally
    wild.loc[test_days, ["open", "high", "low", "close", "adj_close"]] *= scale[:, None]
    wild.loc[test_days, "volume"] *= 50.0
    second = run_training(_job(_csv(tmp_path / "b.csv", wild), tmp_path))
    assert first.card["fit_end"] == second.card["fit_end"] < first.card["test_start"]
    for name in ("normalise", "rescale"):
        before = first.training.model.get_layer(name).get_config()
        after = second.training.model.get_layer(name).get_config()
        assert before == after, name
    assert first.training.model.get_layer("normalise").get_config()["mean"] is not None
    # ...while the test scores did see the change.
    assert not first.scores.equals(second.scores)


def test_validation_reports_travel_with_the_outcome(tiny_outcome):
    _, outcome = tiny_outcome
    assert [report.ticker for report in outcome.validation] == ["^GSPC", "^IXIC"]
    assert all(report.ok and report.calendar == "XNYS" for report in outcome.validation)
    assert outcome.card["calendar"] == "XNYS" and outcome.card["on_invalid"] == "raise"


def test_a_non_session_day_stops_raise_and_is_dropped_by_repair(recent, tmp_path):
    saturday = recent.iloc[[10]].set_axis(pd.DatetimeIndex(["2015-01-17"], name="date"))
    path = _csv(tmp_path / "weekend.csv", pd.concat([recent, saturday]).sort_index())
    with pytest.raises(MarketDataError, match="SPX: day that is not a trading session on 1"):
        _checked(path, tmp_path)
    bars, reports = _checked(path, tmp_path, on_invalid="repair")
    assert reports[0].repairs["extra_sessions"] == 1
    pd.testing.assert_index_equal(bars["SPX"].index, recent.index, check_names=False)
    kept, _ = _checked(path, tmp_path, on_invalid="warn")
    assert pd.Timestamp("2015-01-17") in kept["SPX"].index


def test_calendar_per_ticker_and_no_calendar(recent, tmp_path):
    path = _csv(tmp_path / "spx.csv", recent)
    _, reports = _checked(path, tmp_path, calendars={"SPX": "XLON"}, on_invalid="warn")
    assert reports[0].calendar == "XLON" and reports[0].counts()["extra_sessions"] > 0
    _, reports = _checked(path, tmp_path, calendar=None)
    assert reports[0].calendar is None and reports[0].ok


def test_panel_split_carries_tickers(tiny_outcome):
    """The main job's hold-out fold and early-stopping slice pool every ticker."""
    from fincast.data.windows import validation_split
    from fincast.training.pipeline import job_holdout_fold

    job, _ = tiny_outcome
    fold = job_holdout_fold(load_sample(job.data.tickers), job)
    train, validation = validation_split(
        fold.train, job.evaluation.validation_fraction, embargo=job.embargo
    )
    for part in (train, validation, fold.test):
        assert set(part.tickers) == {"^GSPC", "^IXIC"}
        assert len(part.tickers) == len(part.inputs)
    assert keras.backend.backend() == "jax"


def test_row_problems_in_a_file_follow_the_policy(recent, tmp_path):
    """Duplicated days and broken high/low stop `raise`, and `repair` fixes them."""
    broken = pd.concat([recent, recent.iloc[[20]]]).sort_index(kind="stable")
    broken.iloc[30, broken.columns.get_loc("high")] = broken.iloc[30]["low"] * 0.5
    path = _csv(tmp_path / "broken.csv", broken)
    with pytest.raises(MarketDataError, match="SPX"):
        _checked(path, tmp_path)
    bars, reports = _checked(path, tmp_path, on_invalid="repair")
    assert not bars["SPX"].index.duplicated().any()
    assert (bars["SPX"]["high"] >= bars["SPX"][["open", "close"]].max(axis=1)).all()
    assert sum(reports[0].repairs.values()) >= 2
