"""The main job's chronological train / validation / test split, pooled over tickers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from fincast.data.windows import Windows, concat_windows, split_at


class SplitSettings(Protocol):
    """What the split reads of a job (a :class:`fincast.training.pipeline.TrainingJob`)."""

    horizon: int
    embargo: int | None
    test_days: int
    validation_fraction: float


@dataclass
class Split:
    """Chronological train / validation / test windows, pooled over tickers."""

    train: Windows
    validation: Windows
    test: Windows
    test_start: pd.Timestamp


def split_windows(windows: dict[str, Windows], job: SplitSettings) -> Split:
    """Split every ticker at the same dates: test = the last ``test_days`` trading days.

    Between train and validation and between validation and test, training windows
    whose targets reach the next part are purged and ``embargo`` more are dropped.
    """
    embargo = job.horizon if job.embargo is None else job.embargo
    if embargo < job.horizon:
        raise ValueError(
            f"embargo must be at least the horizon ({job.horizon}). Received: embargo={embargo}"
        )
    all_days = pd.DatetimeIndex(
        np.unique(np.concatenate([w.first_target for w in windows.values()]))
    )
    if job.test_days < 1 or job.test_days >= len(all_days) // 2:
        raise ValueError(
            f"test_days must be between 1 and {len(all_days) // 2 - 1} for this data. "
            f"Received: test_days={job.test_days}"
        )
    test_start = all_days[-job.test_days]
    before, test = zip(
        *(split_at(w, test_start, embargo=embargo) for w in windows.values()), strict=True
    )
    earlier = concat_windows(list(before))
    days = pd.DatetimeIndex(np.unique(earlier.first_target))
    validation_start = days[int(len(days) * (1 - job.validation_fraction))]
    train, validation = zip(
        *(split_at(w, validation_start, embargo=embargo) for w in before), strict=True
    )
    return Split(
        concat_windows(list(train)),
        concat_windows(list(validation)),
        concat_windows(list(test)),
        test_start,
    )
