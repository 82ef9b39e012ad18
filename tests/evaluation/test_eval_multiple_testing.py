"""BH and Holm adjusted p-values and rejections against statsmodels' multipletests."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from fincast.evaluation import multiple_testing
from fincast.evaluation.multiple_testing import (
    adjust_p_values,
    benjamini_hochberg,
    holm_adjust,
    significant_count_sentence,
)

REFERENCE_METHODS = {"bh": "fdr_bh", "holm": "holm"}
ADJUSTERS = {"bh": benjamini_hochberg, "holm": holm_adjust}
EDGE_CASES = [
    [0.03],
    [0.0, 0.0, 0.5],
    [1.0, 1.0, 1.0],
    [0.01, 0.01, 0.01, 0.5],
    [0.0, 1.0, 0.05, 0.05, 0.2],
    [0.04, 0.001, 0.04, 0.04, 0.9, 0.0125],
    [0.025, 0.05],
]


def check_against_statsmodels(p_values: np.ndarray, method: str, alpha: float = 0.05) -> None:
    tickers = [f"T{number}" for number in range(len(p_values))]
    tests = adjust_p_values(pd.Series(p_values, index=tickers), method=method, alpha=alpha)
    reject, corrected, _, _ = multipletests(p_values, alpha=alpha, method=REFERENCE_METHODS[method])
    np.testing.assert_allclose(tests.adjusted.to_numpy(), corrected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(tests.rejected.to_numpy(), reject)
    np.testing.assert_allclose(ADJUSTERS[method](p_values), corrected, rtol=1e-12, atol=0)


def test_doctests_pass() -> None:
    result = doctest.testmod(multiple_testing, verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("method", ["bh", "holm"])
@pytest.mark.parametrize("size", [1, 2, 10, 88, 500])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_p_values_match_statsmodels(method: str, size: int, seed: int) -> None:
    generator = np.random.default_rng(seed)
    # A mix of true nulls (uniform) and strong effects (near zero), as per-ticker DM tests give.
    effect = generator.random(size) < 0.3
    p_values = np.where(effect, generator.beta(0.2, 20, size), generator.random(size))
    for alpha in (0.01, 0.05, 0.1):
        check_against_statsmodels(p_values, method, alpha)


@pytest.mark.parametrize("method", ["bh", "holm"])
@pytest.mark.parametrize("p_values", EDGE_CASES)
def test_edge_cases_match_statsmodels(method: str, p_values: list[float]) -> None:
    check_against_statsmodels(np.array(p_values), method)


@pytest.mark.parametrize("method", ["bh", "holm"])
def test_nan_p_values_are_reported_and_excluded(method: str) -> None:
    p_values = pd.Series({"A": 0.001, "B": np.nan, "C": 0.02, "D": 0.04, "E": np.nan, "F": 0.3})
    tests = adjust_p_values(p_values, method=method)
    present = p_values.dropna()
    reject, corrected, _, _ = multipletests(present, method=REFERENCE_METHODS[method])
    np.testing.assert_allclose(tests.adjusted[present.index], corrected, rtol=1e-12)
    assert tests.rejected[present.index].tolist() == reject.tolist()
    assert tests.adjusted[["B", "E"]].isna().all()
    assert not tests.rejected[["B", "E"]].any()
    assert tests.missing == ["B", "E"] and tests.tested == 4


def test_all_missing_is_reported_not_an_error() -> None:
    tests = adjust_p_values(pd.Series([np.nan, np.nan], index=["A", "B"]))
    assert tests.tested == 0 and not tests.rejected.any()
    assert significant_count_sentence(tests).startswith("beats the random walk on 0 of 0 tickers")


def test_bad_input_names_the_value() -> None:
    with pytest.raises(ValueError, match=r"\[1.5\]"):
        adjust_p_values(pd.Series([0.1, 1.5]))
    with pytest.raises(ValueError, match="alpha=1.2"):
        adjust_p_values(pd.Series([0.1]), alpha=1.2)
    with pytest.raises(ValueError, match="method='bonferroni'"):
        adjust_p_values(pd.Series([0.1]), method="bonferroni")  # type: ignore[arg-type]


def test_sentence_counts_only_wins_in_the_model_favour() -> None:
    p_values = pd.Series({"A": 0.001, "B": 0.002, "C": 0.003, "D": 0.8})
    better = pd.Series({"A": True, "B": False, "C": True, "D": True})
    holm = adjust_p_values(p_values, method="holm")
    assert significant_count_sentence(holm, better=better) == (
        "beats the random walk on 2 of 4 tickers after FWER control (Holm, 5%)"
    )
    bh = adjust_p_values(p_values, alpha=0.1)
    assert significant_count_sentence(bh, claim="beats the mean") == (
        "beats the mean on 3 of 4 tickers after FDR control (BH, 10%)"
    )
