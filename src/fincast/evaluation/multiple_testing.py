"""Multiple-testing control for per-ticker p-values: Benjamini-Hochberg and Holm.

Testing 88 tickers at 5% finds about four "winners" by chance alone. Benjamini-Hochberg
(BH) controls the false discovery rate (the expected share of false claims among the
rejections); Holm controls the family-wise error rate (the chance of any false claim)
and is stricter. Both are given as adjusted p-values: a hypothesis is rejected at
``alpha`` exactly when its adjusted p-value is at most ``alpha``.

With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``:

- BH: ``adjusted_(i) = min over j >= i of min(1, m * p_(j) / j)``;
- Holm: ``adjusted_(i) = max over j <= i of min(1, (m - j + 1) * p_(j))``.

A NaN p-value (a ticker whose test could not run) is kept as NaN, is never rejected,
does not count in ``m``, and is listed in :attr:`MultipleTests.missing`.

>>> holm_adjust([0.01, 0.04, 0.03]).round(4).tolist()
[0.03, 0.06, 0.06]
>>> benjamini_hochberg([0.01, 0.04, 0.03]).round(4).tolist()
[0.03, 0.04, 0.04]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

Method = Literal["bh", "holm"]
CONTROLS = {"bh": ("FDR", "BH"), "holm": ("FWER", "Holm")}


@dataclass(frozen=True)
class MultipleTests:
    """Per-ticker p-values adjusted for testing many tickers at once.

    Attributes:
        p_values: the raw p-values (index: ticker).
        adjusted: the adjusted p-values; NaN where the raw one is NaN.
        rejected: ``adjusted <= alpha``; False where the raw p-value is NaN.
        method: ``bh`` or ``holm``.
        alpha: the error rate controlled.
        missing: tickers without a p-value, excluded from the count of tests.
    """

    p_values: pd.Series
    adjusted: pd.Series
    rejected: pd.Series
    method: Method
    alpha: float
    missing: list[str]

    @property
    def tested(self) -> int:
        """Number of tickers with a p-value (``m``)."""
        return int(self.p_values.notna().sum())


def _checked(p_values: ArrayLike) -> np.ndarray:
    values = np.asarray(p_values, dtype="float64")
    if values.ndim != 1:
        raise ValueError(f"p-values must be one-dimensional; received shape {values.shape}.")
    finite = values[~np.isnan(values)]
    bad = finite[(finite < 0) | (finite > 1)]
    if bad.size:
        raise ValueError(f"p-values must lie in [0, 1]; received {bad[:5].tolist()}.")
    return values


def _adjust(p_values: ArrayLike, step: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``step`` to the sorted non-NaN p-values and put the result back in place."""
    values = _checked(p_values)
    present = np.flatnonzero(~np.isnan(values))
    order = present[np.argsort(values[present], kind="stable")]
    adjusted = np.full(values.shape, np.nan)
    adjusted[order] = np.minimum(step(values[order]), 1.0)
    return adjusted


def _bh_step(ascending: np.ndarray) -> np.ndarray:
    rank = np.arange(1, ascending.size + 1)
    scaled = ascending * ascending.size / rank
    return np.minimum.accumulate(scaled[::-1])[::-1]


def _holm_step(ascending: np.ndarray) -> np.ndarray:
    multiplier = np.arange(ascending.size, 0, -1)
    return np.maximum.accumulate(np.minimum(ascending * multiplier, 1.0))


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN in, NaN out; NaNs not counted).

    >>> benjamini_hochberg([0.02, float("nan"), 0.5]).tolist()
    [0.04, nan, 0.5]
    """
    return _adjust(p_values, _bh_step)


def holm_adjust(p_values: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN in, NaN out; NaNs not counted).

    >>> holm_adjust([0.02, float("nan"), 0.5]).tolist()
    [0.04, nan, 0.5]
    """
    return _adjust(p_values, _holm_step)


def adjust_p_values(
    p_values: pd.Series, *, method: Method = "bh", alpha: float = 0.05
) -> MultipleTests:
    """Adjust per-ticker p-values by BH or Holm and reject at ``alpha``.

    Args:
        p_values: ticker -> p-value; NaN where a ticker's test could not run.
        method: ``bh`` (false discovery rate) or ``holm`` (family-wise error rate).
        alpha: the rate to control, in (0, 1).

    Returns:
        The adjusted p-values, the rejections and the tickers without a p-value.

    Raises:
        ValueError: an unknown ``method``, ``alpha`` outside (0, 1), or a p-value
            outside [0, 1].
    """
    if method not in CONTROLS:
        raise ValueError(f"method must be one of {sorted(CONTROLS)}; received method={method!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); received alpha={alpha}.")
    raw = p_values.astype("float64")
    adjust = benjamini_hochberg if method == "bh" else holm_adjust
    adjusted = pd.Series(adjust(raw.to_numpy()), index=raw.index, name="adjusted")
    return MultipleTests(
        p_values=raw,
        adjusted=adjusted,
        rejected=(adjusted <= alpha).rename("rejected"),
        method=method,
        alpha=alpha,
        missing=[str(ticker) for ticker in raw.index[raw.isna()]],
    )


def significant_count_sentence(
    tests: MultipleTests, *, better: pd.Series | None = None, claim: str = "beats the random walk"
) -> str:
    """One line such as "beats the random walk on 12 of 88 tickers after FDR control (BH, 5%)".

    Args:
        tests: the adjusted tests.
        better: ticker -> True where the model's mean loss is the lower one. A
            two-sided test also rejects where the model is *worse*; given ``better``,
            only rejections in the model's favour count.
        claim: what a counted rejection means.

    >>> tests = adjust_p_values(pd.Series({"A": 0.001, "B": 0.02, "C": 0.9, "D": float("nan")}))
    >>> significant_count_sentence(tests)
    'beats the random walk on 2 of 3 tickers after FDR control (BH, 5%); 1 without a p-value (D)'
    """
    wins = tests.rejected
    if better is not None:
        wins = wins & better.reindex(wins.index, fill_value=False).astype(bool)
    control, name = CONTROLS[tests.method]
    sentence = (
        f"{claim} on {int(wins.sum())} of {tests.tested} tickers after {control} control "
        f"({name}, {tests.alpha * 100:g}%)"
    )
    if tests.missing:
        shown = ", ".join(tests.missing[:5]) + (", ..." if len(tests.missing) > 5 else "")
        sentence += f"; {len(tests.missing)} without a p-value ({shown})"
    return sentence
