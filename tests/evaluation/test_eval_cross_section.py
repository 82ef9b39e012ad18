"""Per-date IC and rank IC against scipy.stats, their summary against a one-sample t-test."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from fincast.evaluation import cross_section
from fincast.evaluation.cross_section import (
    ic_table,
    information_coefficients,
    summarise_ic,
)

TICKERS = [f"T{number:02d}" for number in range(12)]


def random_panel(seed: int = 0, dates: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecasts with ties (one decimal) and gaps, and returns loosely related to them."""
    generator = np.random.default_rng(seed)
    index = pd.bdate_range("2021-01-04", periods=dates)
    forecasts = pd.DataFrame(
        generator.normal(size=(dates, len(TICKERS))).round(1), index=index, columns=TICKERS
    )
    noise = generator.normal(size=forecasts.shape)
    realised = 0.01 * (0.3 * forecasts + noise)
    forecasts = forecasts.mask(generator.random(forecasts.shape) < 0.1)
    realised = realised.mask(generator.random(realised.shape) < 0.1)
    return forecasts, realised


def test_doctests_pass() -> None:
    result = doctest.testmod(cross_section, verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ic_and_rank_ic_match_scipy_per_date(seed: int) -> None:
    forecasts, realised = random_panel(seed)
    scores = information_coefficients(forecasts, realised)
    assert scores.skipped.empty and len(scores.ic) == len(forecasts)
    for date in forecasts.index:
        both = forecasts.loc[date].notna() & realised.loc[date].notna()
        x, y = forecasts.loc[date, both], realised.loc[date, both]
        assert scores.ic[date] == pytest.approx(scipy_stats.pearsonr(x, y).statistic, abs=1e-12)
        assert scores.rank_ic[date] == pytest.approx(
            scipy_stats.spearmanr(x, y).statistic, abs=1e-12
        )
        assert scores.tickers[date] == both.sum()


def test_summary_matches_a_one_sample_t_test() -> None:
    forecasts, realised = random_panel(3, dates=40)
    scores = information_coefficients(forecasts, realised)
    for values in (scores.ic, scores.rank_ic):
        summary = summarise_ic(values)
        reference = scipy_stats.ttest_1samp(values.to_numpy(), 0.0)
        assert summary.t_statistic == pytest.approx(reference.statistic, rel=1e-10)
        assert summary.mean == pytest.approx(np.mean(values))
        assert summary.std == pytest.approx(np.std(values, ddof=1))
        assert summary.icir == pytest.approx(np.mean(values) / np.std(values, ddof=1))
        assert summary.dates == 40


def test_thin_and_constant_dates_are_skipped_and_reported() -> None:
    forecasts, realised = random_panel(4, dates=6)
    dates = forecasts.index
    forecasts.loc[dates[1], TICKERS[4:]] = np.nan  # 4 tickers left
    forecasts.loc[dates[2]] = 0.5
    realised.loc[dates[3]] = 0.0
    realised.loc[dates[4], TICKERS[:8]] = np.nan  # only 4 left with both values
    scores = information_coefficients(forecasts, realised)
    assert scores.skipped.to_dict() == {
        dates[1]: "fewer than 5 tickers (4)",
        dates[2]: "constant forecast",
        dates[3]: "constant realised return",
        dates[4]: "fewer than 5 tickers (4)",
    }
    assert list(scores.ic.index) == [dates[0], dates[5]]
    assert list(scores.rank_ic.index) == [dates[0], dates[5]]
    table = ic_table(scores)
    assert list(table.index) == ["ic", "rank_ic"]
    assert table.loc["ic", "dates"] == 2 and table.loc["ic", "skipped"] == 4


def test_min_tickers_is_honoured() -> None:
    forecasts, realised = random_panel(5, dates=3)
    scores = information_coefficients(forecasts, realised, min_tickers=13)
    assert scores.ic.empty and len(scores.skipped) == 3
    assert summarise_ic(scores.ic).dates == 0
    with pytest.raises(ValueError, match="min_tickers=2"):
        information_coefficients(forecasts, realised, min_tickers=2)


def test_frames_are_aligned_on_common_dates_and_tickers() -> None:
    forecasts, realised = random_panel(6, dates=8)
    shuffled = realised[TICKERS[::-1]].iloc[2:].assign(EXTRA=1.0)
    scores = information_coefficients(forecasts, shuffled)
    reference = information_coefficients(forecasts.iloc[2:], realised.iloc[2:])
    pd.testing.assert_series_equal(scores.ic, reference.ic)
    with pytest.raises(ValueError, match="0 common tickers"):
        information_coefficients(forecasts, realised.add_prefix("X"))


def test_summary_of_too_few_dates_is_nan_not_an_error() -> None:
    summary = summarise_ic(pd.Series([0.2]))
    assert summary.mean == 0.2 and summary.dates == 1
    assert np.isnan(summary.std) and np.isnan(summary.t_statistic)
