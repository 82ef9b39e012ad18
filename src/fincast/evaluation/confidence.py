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
    mcs = MCS(losses, size=size, reps=reps, block_size=block, method="R", seed=seed)
    mcs.compute()
    pvalues = mcs.pvalues.iloc[:, 0]
    spa_p = None
    if MODEL in losses and len(losses.columns) > 1:
        spa = SPA(losses[MODEL], losses.drop(columns=MODEL), block_size=block, reps=reps, seed=seed)
        spa.compute()
        spa_p = float(spa.pvalues["consistent"])
    included = [name for name in losses.columns if name in set(mcs.included)]
    return Confidence(
        size,
        included,
        {str(name): float(value) for name, value in pvalues.items()},
        spa_p,
        block,
        reps,
    )


def add_to_scores(scores: pd.DataFrame, result: Confidence) -> pd.DataFrame:
    """``scores`` with the MCS p-value and membership of each forecaster."""
    table = scores.copy()
    table["mcs_p"] = [result.mcs_p.get(str(name), np.nan) for name in table.index]
    table["in_mcs"] = [str(name) in result.included for name in table.index]
    return table
