"""Sliding windows over a feature frame, and chronological splits with an embargo.

Windows are views, not copies: ``inputs[i]`` is a strided view of feature rows
``i .. i+lookback-1`` (``numpy.lib.stride_tricks.sliding_window_view``), so one
ticker's windows cost no more memory than its feature frame, whatever the lookback.
:func:`split_at` keeps them views (each part is a contiguous run of windows).

Copies happen in two places, on purpose: :func:`concat_windows` stacks several
tickers' windows into one panel (numpy cannot view rows of separate arrays as one),
and Keras gathers each shuffled batch. On JAX and PyTorch, ``model.fit`` copies one
batch at a time; TensorFlow's array adapter turns the whole training array into one
tensor first, so it holds one dense copy of the training windows while it fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Windows:
    """Model inputs and targets, in time order per ticker, with the ticker of each window.

    Window ``i`` sees feature rows ``i .. i+lookback-1`` (its last day is ``as_of[i]``)
    and targets the next ``horizon`` values of the target column.
    """

    inputs: np.ndarray  # (n, lookback, features) float32, usually a read-only view
    targets: np.ndarray  # (n, horizon) float32
    as_of: pd.DatetimeIndex  # last input day of each window
    first_target: pd.DatetimeIndex  # first target day of each window
    last_target: pd.DatetimeIndex  # last target day of each window
    tickers: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))

    def __post_init__(self) -> None:
        if len(self.tickers) != len(self.inputs):  # unnamed windows: one empty name each
            object.__setattr__(self, "tickers", np.full(len(self.inputs), "", dtype=object))

    def __len__(self) -> int:
        return len(self.inputs)

    def select(self, mask: np.ndarray) -> Windows:
        """The windows where ``mask`` is true (a boolean mask or positions: a copy)."""
        return Windows(
            self.inputs[mask],
            self.targets[mask],
            self.as_of[mask],
            self.first_target[mask],
            self.last_target[mask],
            self.tickers[mask],
        )

    def part(self, start: int, stop: int) -> Windows:
        """Windows ``start .. stop-1``: views of this object's arrays, no copy."""
        return Windows(
            self.inputs[start:stop],
            self.targets[start:stop],
            self.as_of[start:stop],
            self.first_target[start:stop],
            self.last_target[start:stop],
            self.tickers[start:stop],
        )


def make_windows(
    features: pd.DataFrame, target: str, *, lookback: int, horizon: int, ticker: str = ""
) -> Windows:
    """Cut ``features`` into (lookback -> horizon) windows, as views of its values.

    Args:
        features: one ticker's features, indexed by date.
        target: the column whose next ``horizon`` values are forecast.
        lookback: days of features in each input window.
        horizon: days forecast at once (multi-horizon target).
        ticker: carried along in :attr:`Windows.tickers`.

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
    values = features.to_numpy(dtype="float32")  # a view when the frame is one float32 block
    target_values = values[:, list(features.columns).index(target)]
    inputs = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)[:count]
    targets = np.lib.stride_tricks.sliding_window_view(target_values[lookback:], horizon)[:count]
    dates = pd.DatetimeIndex(features.index)
    return Windows(
        inputs=inputs.transpose(0, 2, 1),  # (n, features, lookback) -> (n, lookback, features)
        targets=targets,
        as_of=dates[lookback - 1 : lookback - 1 + count],
        first_target=dates[lookback : lookback + count],
        last_target=dates[lookback + horizon - 1 :][:count],
        tickers=np.full(count, ticker, dtype=object),
    )


def concat_windows(parts: list[Windows]) -> Windows:
    """Stack several tickers' windows into one panel for a global model (a copy).

    The result keeps each part's order; :attr:`Windows.tickers` says whose window each is.
    """
    if not parts:
        raise ValueError("concat_windows needs at least one part. Received: parts=[]")
    if len(parts) == 1:
        return parts[0]
    return Windows(
        inputs=np.concatenate([part.inputs for part in parts]),
        targets=np.concatenate([part.targets for part in parts]),
        as_of=pd.DatetimeIndex(np.concatenate([part.as_of for part in parts])),
        first_target=pd.DatetimeIndex(np.concatenate([part.first_target for part in parts])),
        last_target=pd.DatetimeIndex(np.concatenate([part.last_target for part in parts])),
        tickers=np.concatenate([part.tickers for part in parts]),
    )


def last_window(features: pd.DataFrame, lookback: int) -> np.ndarray:
    """The most recent input window, shaped ``(1, lookback, features)``."""
    if len(features) < lookback:
        raise ValueError(f"Need {lookback} feature rows for one window, have {len(features)}.")
    return features.to_numpy(dtype="float32")[-lookback:][None, :, :]


def split_at(windows: Windows, cutoff: pd.Timestamp, *, embargo: int) -> tuple[Windows, Windows]:
    """Split chronologically at ``cutoff`` without target overlap: the one purge and embargo.

    The later part holds windows whose first target day is on or after ``cutoff``.
    The earlier part holds windows whose every target day is before ``cutoff``
    (overlapping targets are purged), minus the last ``embargo`` windows of each
    ticker, so no training target is near a test target. Hold-out splits,
    walk-forward folds and early-stopping slices all cut here. For one ticker's
    windows both parts are contiguous, so both stay views.
    """
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0. Received: {embargo=}")
    later_positions = np.flatnonzero(windows.first_target >= cutoff)
    earlier = np.asarray(windows.last_target < cutoff)
    if embargo:
        for ticker in pd.unique(windows.tickers):
            positions = np.flatnonzero(earlier & (windows.tickers == ticker))
            earlier[positions[max(len(positions) - embargo, 0) :]] = False
    return _take(windows, np.flatnonzero(earlier)), _take(windows, later_positions)


def validation_split(windows: Windows, fraction: float, *, embargo: int) -> tuple[Windows, Windows]:
    """The windows to fit on and the latest ``fraction`` of their days to stop early on.

    The cut is a date (pooled over tickers: every ticker is cut on the same day),
    purged and embargoed like any other split. With ``fraction`` 0, or too few
    windows, nothing is kept back.
    """
    if fraction <= 0 or len(windows) < 4:
        return windows, windows.part(0, 0)
    days = pd.DatetimeIndex(np.unique(windows.first_target))
    return split_at(windows, days[int(len(days) * (1 - fraction))], embargo=embargo)


def _take(windows: Windows, positions: np.ndarray) -> Windows:
    if len(positions) == 0:
        return windows.part(0, 0)
    start, stop = int(positions[0]), int(positions[-1]) + 1
    if stop - start == len(positions):  # a contiguous run: a view
        return windows.part(start, stop)
    return windows.select(positions)
