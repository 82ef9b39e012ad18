"""ACI through a walk-forward: the state carries across folds, per ticker, exactly as one
online pass over every origin would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fincast.conformal import aci_intervals
from fincast.data.windows import Windows
from fincast.evaluation.adaptive import AdaptiveIntervals
from fincast.specs import EvaluationSpec, IntervalSpec, JobSpec, TaskSpec

H = 2


def _windows(ticker: str, start: str, count: int, rng: np.random.Generator) -> Windows:
    days = pd.bdate_range(start, periods=count)
    return Windows(
        inputs=np.zeros((count, 3, 1), dtype="float32"),
        targets=rng.normal(size=(count, H)) * np.linspace(1, 3, count)[:, None],
        as_of=days,
        first_target=days + pd.offsets.BDay(1),
        last_target=days + pd.offsets.BDay(H),
        tickers=np.full(count, ticker, dtype=object),
    )


def test_folds_in_turn_equal_one_online_pass_per_ticker() -> None:
    rng = np.random.default_rng(0)
    state = AdaptiveIntervals(alpha=0.2, gamma=0.05, horizon=H)
    folds = []
    for index, start in enumerate(("2020-01-01", "2020-03-02")):
        a, b = _windows("A", start, 40, rng), _windows("B", start, 40, rng)
        test = Windows(
            inputs=np.concatenate([np.asarray(a.inputs), np.asarray(b.inputs)]),
            targets=np.concatenate([a.targets, b.targets]),
            as_of=a.as_of.append(b.as_of),
            first_target=a.first_target.append(b.first_target),
            last_target=a.last_target.append(b.last_target),
            tickers=np.concatenate([a.tickers, b.tickers]),
        )
        predicted = np.zeros((80, H))
        scores = np.abs(rng.normal(size=(30, H))) * (index + 1)
        folds.append((test, predicted, scores, state.half_widths(test, predicted, scores)))
    for ticker in ("A", "B"):
        rows = [fold[0].tickers == ticker for fold in folds]
        actual = np.concatenate(
            [fold[0].targets[row] for fold, row in zip(folds, rows, strict=True)]
        )
        calibration = [
            fold[2] for fold, row in zip(folds, rows, strict=True) for _ in range(row.sum())
        ]
        got = np.concatenate([fold[3][row] for fold, row in zip(folds, rows, strict=True)])
        for step in range(H):
            expected = aci_intervals(
                np.zeros(len(actual)),
                actual[:, step],
                [scores[:, step] for scores in calibration],
                0.2,
                0.05,
                H,
            )[0]
            np.testing.assert_array_equal(got[:, step], expected)


def test_aci_needs_the_folds_in_turn() -> None:
    with pytest.raises(ValueError, match="set evaluation.n_jobs=1"):
        JobSpec(
            task=TaskSpec(intervals=IntervalSpec(method="aci")),
            evaluation=EvaluationSpec(n_jobs=2),
        )
    with pytest.raises(ValueError, match="task.intervals.method must be one of conformal, aci"):
        IntervalSpec(method="mapie")


def test_scaled_aci_runs_on_the_normalised_values_and_scales_its_widths_back() -> None:
    """With scales s, the miss of an origin is |y - y_hat| > w s: ACI on y / s and y_hat / s."""
    rng = np.random.default_rng(1)
    test = _windows("A", "2021-01-01", 60, rng)
    predicted = rng.normal(size=(60, H)) * 0.1
    scales = np.linspace(0.5, 2.0, 60)
    scores = np.abs(rng.normal(size=(50, H)))
    got = AdaptiveIntervals(0.2, 0.05, H).half_widths(test, predicted, scores, scales)
    for step in range(H):
        normalised, levels, misses = aci_intervals(
            predicted[:, step] / scales,
            test.targets[:, step] / scales,
            [scores[:, step]] * 60,
            0.2,
            0.05,
            H,
        )
        np.testing.assert_allclose(got[:, step], normalised * scales, rtol=1e-12)
        # each miss is the scaled interval's own miss
        outside = np.abs(test.targets[:, step] - predicted[:, step]) > got[:, step]
        np.testing.assert_array_equal(misses.astype(bool), outside)
        assert levels.min() < 0.2 == levels[0]  # the misses moved the level
    # unscaled ACI gives other widths on the same origins
    plain = AdaptiveIntervals(0.2, 0.05, H).half_widths(test, predicted, scores)
    assert not np.allclose(plain, got)


def test_interval_scale_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="task.intervals.scale must be one of recent_volatility"):
        IntervalSpec(scale="garch")
    with pytest.raises(ValueError, match="scale_window must be at least 2 sessions"):
        IntervalSpec(scale_window=1)
