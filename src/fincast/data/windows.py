"""Sliding windows over a feature frame, and chronological splits with an embargo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Windows:
    """Model inputs and targets of one ticker, in time order.

    Window ``i`` sees feature rows ``i .. i+lookback-1`` (its last day is ``as_of[i]``)
    and targets the next ``horizon`` values of the target column.
    """

    inputs: np.ndarray  # (n, lookback, features) float32
    targets: np.ndarray  # (n, horizon) float32
    as_of: pd.DatetimeIndex  # last input day of each window
    first_target: pd.DatetimeIndex  # first target day of each window
    last_target: pd.DatetimeIndex  # last target day of each window

    def __len__(self) -> int:
        return len(self.inputs)

    def select(self, mask: np.ndarray) -> Windows:
        """The windows where ``mask`` is true."""
        return Windows(
            self.inputs[mask],
            self.targets[mask],
            self.as_of[mask],
            self.first_target[mask],
            self.last_target[mask],
        )


def make_windows(features: pd.DataFrame, target: str, *, lookback: int, horizon: int) -> Windows:
    """Cut ``features`` into (lookback -> horizon) windows.

    Raises:
        ValueError: lookback or horizon below 1, or too few rows for one window.
    """
    if lookback < 1 or horizon < 1:
        raise ValueError(f"lookback and horizon must be >= 1. Received: {lookback=}, {horizon=}")
    rows = len(features)
    count = rows - lookback - horizon + 1
    if count < 1:
        raise ValueError(
            f"{rows} rows are too few for lookback={lookback} and horizon={horizon}; "
            f"need at least {lookback + horizon}."
        )
    values = features.to_numpy(dtype="float32")
    target_values = features[target].to_numpy(dtype="float32")
    inputs = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)[:count]
    inputs = np.ascontiguousarray(inputs.transpose(0, 2, 1))
    targets = np.lib.stride_tricks.sliding_window_view(target_values[lookback:], horizon)[:count]
    dates = pd.DatetimeIndex(features.index)
    return Windows(
        inputs=inputs,
        targets=np.ascontiguousarray(targets),
        as_of=dates[lookback - 1 : lookback - 1 + count],
        first_target=dates[lookback : lookback + count],
        last_target=dates[lookback + horizon - 1 :][:count],
    )


def last_window(features: pd.DataFrame, lookback: int) -> np.ndarray:
    """The most recent input window, shaped ``(1, lookback, features)``."""
    if len(features) < lookback:
        raise ValueError(f"Need {lookback} feature rows for one window, have {len(features)}.")
    return features.to_numpy(dtype="float32")[-lookback:][None, :, :]


def split_at(windows: Windows, cutoff: pd.Timestamp, *, embargo: int) -> tuple[Windows, Windows]:
    """Split chronologically at ``cutoff`` without target overlap.

    The later part holds windows whose first target day is on or after ``cutoff``.
    The earlier part holds windows whose every target day is before ``cutoff``,
    minus the last ``embargo`` of them, so no training target is near a test target.
    """
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0. Received: {embargo=}")
    later = windows.first_target >= cutoff
    earlier_positions = np.flatnonzero(windows.last_target < cutoff)
    earlier = np.zeros(len(windows), dtype=bool)
    earlier[earlier_positions[: max(len(earlier_positions) - embargo, 0)]] = True
    return windows.select(earlier), windows.select(later & ~earlier)
