"""Sliding windows over feature rows, and chronological splits with an embargo.

Windows are never materialised for a whole panel. :class:`WindowArray` holds the
feature rows once (every ticker's, stacked) and where each window starts: window ``i``
is rows ``starts[i] .. starts[i]+lookback-1``. Selecting, splitting and stacking
windows (:meth:`Windows.select`, :func:`split_at`, :func:`concat_windows`) only
select or offset ``starts``, so a universe's windows cost its feature rows plus one
integer each, whatever the lookback and however many tickers. Training and
evaluation gather windows one batch at a time (:meth:`WindowArray.take`, used by
:class:`fincast.fitting.batches.WindowBatches`); ``numpy.asarray`` materialises
them, for small slices and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class WindowArray:
    """``(n, lookback, features)`` windows as views of shared feature ``rows``.

    Behaves like a read-only float32 array for what fincast needs: ``len``, ``shape``,
    ``dtype``, ``ndim``; ``array[i]`` is window ``i`` (a view of ``rows``); a slice, a
    boolean mask or positions select windows lazily (another ``WindowArray`` over the
    same rows); ``array[windows, steps, features]`` gathers only what it names; and
    ``numpy.asarray(array)`` materialises every window.
    """

    ndim = 3

    def __init__(self, rows: np.ndarray, starts: np.ndarray, lookback: int) -> None:
        if rows.ndim != 2:
            raise ValueError(f"rows must be (days, features). Received: shape={rows.shape}")
        if rows.flags.writeable:  # windows are views: never written through
            rows = rows.view()
            rows.flags.writeable = False
        self.rows = rows
        self.starts = np.asarray(starts, dtype=np.int64)
        self.lookback = int(lookback)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.starts), self.lookback, int(self.rows.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return self.rows.dtype

    def __len__(self) -> int:
        return len(self.starts)

    def _row_positions(self, steps: Any = slice(None)) -> np.ndarray:
        offsets = np.arange(self.lookback)[steps]
        return self.starts[:, None] + offsets if np.ndim(offsets) else self.starts + offsets

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Windows at ``positions``, gathered into one ``(len(positions), lookback, F)`` array."""
        return self.rows[self.starts[positions][:, None] + np.arange(self.lookback)]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            if any(part is Ellipsis for part in key) or sum(np.ndim(part) > 0 for part in key) > 1:
                raise IndexError(
                    "WindowArray takes a window selector, then a step and a feature index "
                    "(no Ellipsis, at most one index array); use numpy.asarray for more. "
                    f"Received: {key!r}"
                )
            picked, *rest = key
            windows = self[picked]
            if not isinstance(windows, WindowArray):  # one window: a plain array
                return windows[tuple(rest)]
            steps = rest[0] if rest else slice(None)
            gathered = windows.rows[windows._row_positions(steps)]
            return gathered[(..., *rest[1:])] if len(rest) > 1 else gathered
        if isinstance(key, int | np.integer):
            start = int(self.starts[key])
            return self.rows[start : start + self.lookback]
        return WindowArray(self.rows, self.starts[key], self.lookback)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        gathered = self.take(np.arange(len(self)))
        return gathered if dtype is None else gathered.astype(dtype)

    def row_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows these windows touch, and how many windows hold each (for moments)."""
        if not len(self):
            return self.rows[:0], np.zeros(0)
        low, high = int(self.starts.min()), int(self.starts.max()) + self.lookback
        counts = np.zeros(high - low + 1)
        np.add.at(counts, self.starts - low, 1.0)
        np.add.at(counts, self.starts - low + self.lookback, -1.0)
        return self.rows[low:high], np.cumsum(counts)[:-1]


def feature_moments(inputs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each feature over every window and step (float64).

    For a :class:`WindowArray` they are computed from the rows, each weighted by the
    windows that hold it: equal to the flat moments of the materialised windows,
    without materialising them.
    """
    if isinstance(inputs, WindowArray):
        rows, weights = inputs.row_weights()
        values = rows.astype("float64")
        total = weights.sum()
        mean = weights @ values / total
        variance = weights @ (values - mean) ** 2 / total
        return mean, variance
    flat = np.asarray(inputs).reshape(-1, inputs.shape[-1]).astype("float64")
    return flat.mean(axis=0), flat.var(axis=0)


@dataclass(frozen=True)
class Windows:
    """Model inputs and targets, in time order per ticker, with the ticker of each window.

    ``inputs`` may also be a plain ``(n, lookback, features)`` array (it is wrapped).

    Window ``i`` sees feature rows ``i .. i+lookback-1`` (its last day is ``as_of[i]``)
    and targets the next ``horizon`` values of the target column.
    """

    inputs: WindowArray  # (n, lookback, features) float32, gathered per batch
    targets: np.ndarray  # (n, horizon) float32
    as_of: pd.DatetimeIndex  # last input day of each window
    first_target: pd.DatetimeIndex  # first target day of each window
    last_target: pd.DatetimeIndex  # last target day of each window
    tickers: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, WindowArray):
            object.__setattr__(self, "inputs", as_window_array(self.inputs))
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
    """Cut ``features`` into (lookback -> horizon) windows over its values (no copy).

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
    targets = np.lib.stride_tricks.sliding_window_view(target_values[lookback:], horizon)[:count]
    dates = pd.DatetimeIndex(features.index)
    return Windows(
        inputs=WindowArray(values, np.arange(count), lookback),
        targets=targets,
        as_of=dates[lookback - 1 : lookback - 1 + count],
        first_target=dates[lookback : lookback + count],
        last_target=dates[lookback + horizon - 1 :][:count],
        tickers=np.full(count, ticker, dtype=object),
    )


def as_window_array(inputs: Any) -> WindowArray:
    """A plain ``(n, lookback, features)`` array as a :class:`WindowArray` (each window's rows)."""
    array = np.asarray(inputs)
    if array.ndim != 3:
        raise ValueError(f"inputs must be (n, lookback, features). Received: shape={array.shape}")
    count, lookback, width = array.shape
    rows = array.reshape(count * lookback, width)
    return WindowArray(rows, np.arange(count) * lookback, lookback)


def _stack_inputs(parts: list[WindowArray]) -> WindowArray:
    """One WindowArray over every part's rows (each rows array copied once, windows never)."""
    lookbacks = {part.lookback for part in parts}
    if len(lookbacks) != 1:
        raise ValueError(f"Cannot stack windows of different lookbacks: {sorted(lookbacks)}")
    blocks: dict[int, tuple[np.ndarray, int]] = {}  # rows arrays shared by parts, once each
    offset = 0
    starts = []
    for part in parts:
        key = id(part.rows)
        if key not in blocks:
            blocks[key] = (part.rows, offset)
            offset += len(part.rows)
        starts.append(part.starts + blocks[key][1])
    rows = np.concatenate([block for block, _ in blocks.values()])
    return WindowArray(rows, np.concatenate(starts), lookbacks.pop())


def concat_windows(parts: list[Windows]) -> Windows:
    """Stack several tickers' windows into one panel for a global model.

    Their feature rows are stacked once; the windows stay lazy (:class:`WindowArray`).
    The result keeps each part's order; :attr:`Windows.tickers` says whose window each is.
    """
    if not parts:
        raise ValueError("concat_windows needs at least one part. Received: parts=[]")
    if len(parts) == 1:
        return parts[0]
    return Windows(
        inputs=_stack_inputs([part.inputs for part in parts]),
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
