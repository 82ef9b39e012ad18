"""Comparisons over every forecaster at once: Hansen's Model Confidence Set and SPA test.

Both come from ``arch.bootstrap`` (stationary bootstrap, blocks at least the
horizon long), on each forecaster's loss per origin (the task loss averaged over
the horizon steps). The MCS keeps, at confidence ``1 - size``, the forecasters not
shown to be worse than the best; the SPA p-value tests whether any baseline beats
the model (a small p-value: one does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fincast.evaluation.backtest_record import Backtest
from fincast.evaluation.forecasters import MODEL
from fincast.evaluation.stats import p_text
from fincast.evaluation.tasks import task_named

MCS_SIZE = 0.10


@dataclass(frozen=True)
class Confidence:
    """The MCS and SPA results of one backtest."""

    size: float
    included: list[str]
    mcs_p: dict[str, float]
    spa_p: float | None
    block: int
    reps: int
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What a reader needs, in words."""
        confidence = f"{1 - self.size:.0%}"
        lines = [
            f"Model confidence set (Hansen, {confidence}, stationary bootstrap, blocks of "
            f"{self.block}, {self.reps} reps): {', '.join(self.included)}"
        ]
        lines += self.notes
        if self.spa_p is not None:
            lines.append(
                f"SPA test (Hansen; H0: no baseline beats the model): {p_text(self.spa_p)}"
            )
        return lines


def origin_losses(backtest: Backtest) -> pd.DataFrame:
    """Each forecaster's task loss per origin (averaged over the horizon steps)."""
    losses = task_named(backtest.task).loss_values
    return pd.DataFrame(
        {
            name: losses(backtest.actual, backtest.point(name)).mean(axis=1)
            for name in backtest.forecasts
        },
        index=backtest.origins,
    )


def confidence(
    backtest: Backtest, *, size: float = MCS_SIZE, reps: int = 1000, seed: int = 0
) -> Confidence:
    """The Model Confidence Set over every forecaster and the SPA test of the model.

    Raises:
        ValueError: ``size`` outside (0, 1).
    """
    if not 0 < size < 1:
        raise ValueError(f"The MCS size must be in (0, 1). Received: size={size}")
    from arch.bootstrap import MCS, SPA

    losses = origin_losses(backtest)
    block = max(backtest.horizon, math.ceil(math.sqrt(len(losses)) / 2))
    same_as = identical_losses(losses)
    distinct = losses.drop(columns=list(same_as))
    if len(distinct.columns) > 1:
        mcs = MCS(distinct, size=size, reps=reps, block_size=block, method="R", seed=seed)
        mcs.compute()
        pvalues = {str(name): float(value) for name, value in mcs.pvalues.iloc[:, 0].items()}
        kept = {str(name) for name in mcs.included}
    else:  # one forecaster (or all alike): nothing to compare
        pvalues, kept = {str(name): 1.0 for name in distinct.columns}, set(map(str, distinct))
    for duplicate, original in same_as.items():  # identical losses: the same verdict
        pvalues[duplicate] = pvalues[original]
        if original in kept:
            kept.add(duplicate)
    notes = [
        f"{duplicate} has the same loss as {original} at every origin (the same forecasts); "
        "the MCS scores them as one"
        for duplicate, original in same_as.items()
    ]
    spa_p = None
    if MODEL in losses and len(losses.columns) > 1:
        spa = SPA(losses[MODEL], losses.drop(columns=MODEL), block_size=block, reps=reps, seed=seed)
        spa.compute()
        spa_p = float(spa.pvalues["consistent"])
    included = [name for name in losses.columns if name in kept]
    return Confidence(size, included, pvalues, spa_p, block, reps, notes)


def identical_losses(losses: pd.DataFrame) -> dict[str, str]:
    """Each forecaster whose losses equal an earlier one's at every origin, and that one.

    arch's MCS cannot rank two identical loss series (their difference has no variance),
    as when the historical median forecasts exactly the random walk's zero.
    """
    same_as: dict[str, str] = {}
    for position, name in enumerate(losses.columns):
        for earlier in losses.columns[:position]:
            if earlier not in same_as and np.array_equal(
                losses[name].to_numpy(), losses[earlier].to_numpy()
            ):
                same_as[str(name)] = str(earlier)
                break
    return same_as


def add_to_scores(scores: pd.DataFrame, result: Confidence) -> pd.DataFrame:
    """``scores`` with the MCS p-value and membership of each forecaster."""
    table = scores.copy()
    table["mcs_p"] = [result.mcs_p.get(str(name), np.nan) for name in table.index]
    table["in_mcs"] = [str(name) in result.included for name in table.index]
    return table
