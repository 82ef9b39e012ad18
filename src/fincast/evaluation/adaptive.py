"""Adaptive conformal inference through a walk-forward (``task.intervals.method=aci``).

Each ticker's test origins are taken in time order across the folds. At every origin
the half width of each horizon step is the conformal quantile, at the origin's current
level, of the validation scores of the fold that fitted the model; the level then moves
by Gibbs & Candes' rule with the misses known so far (an origin's miss is known
``horizon`` sessions later): :func:`fincast.conformal.aci_intervals`. With scaled
scores (``task.intervals.scale``) it runs on ``y / s`` and ``y_hat / s``, each origin's
own scale, and the widths are scaled back. The state carries
over from fold to fold, so folds run one after another (``evaluation.n_jobs=1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fincast.conformal import aci_intervals
from fincast.data.windows import Windows


@dataclass
class AdaptiveIntervals:
    """The ACI state of one walk-forward: every origin seen so far, per ticker."""

    alpha: float
    gamma: float
    horizon: int
    # per ticker: origin days, point forecasts, actuals and calibration scores, in order
    seen: dict[str, list[tuple[pd.Timestamp, np.ndarray, np.ndarray, np.ndarray]]] = field(
        default_factory=dict
    )

    def half_widths(
        self,
        test: Windows,
        predicted: np.ndarray,
        scores: np.ndarray,
        scales: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each test window's half width per step ``(n, horizon)``, after every earlier origin.

        Args:
            test: the fold's test windows (one ticker or several).
            predicted: their point forecasts ``(n, horizon)``.
            scores: the fitting fold's validation scores ``|y - y_hat| / s`` ``(m, horizon)``.
            scales: each test window's scale ``s`` ``(n,)`` (``None``: unscaled, 1).
        """
        scale = np.ones(len(predicted)) if scales is None else np.asarray(scales, dtype="float64")
        predicted = np.asarray(predicted, dtype="float64") / scale[:, None]
        targets = np.asarray(test.targets, dtype="float64") / scale[:, None]
        widths = np.empty_like(predicted)
        for ticker in pd.unique(test.tickers):
            positions = np.flatnonzero(test.tickers == ticker)
            positions = positions[np.argsort(np.asarray(test.as_of)[positions], kind="stable")]
            history = self.seen.setdefault(str(ticker), [])
            first = len(history)
            for position in positions:
                history.append(
                    (test.as_of[int(position)], predicted[position], targets[position], scores)
                )
            widths[positions] = self._replay(history)[first:]
        return widths * scale[:, None]

    def _replay(self, history: list) -> np.ndarray:
        """ACI over a ticker's whole history, step by step (deterministic: the same online)."""
        predicted = np.array([entry[1] for entry in history], dtype="float64")
        actual = np.array([entry[2] for entry in history], dtype="float64")
        widths = np.empty_like(predicted)
        for step in range(predicted.shape[1]):
            calibration = [entry[3][:, step] for entry in history]
            widths[:, step] = aci_intervals(
                predicted[:, step],
                actual[:, step],
                calibration,
                self.alpha,
                self.gamma,
                self.horizon,
            )[0]
        return widths
