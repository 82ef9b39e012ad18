"""Too little history for a walk-forward plan: a panel's short tickers left out by name.

A fold whose training windows, all tickers pooled, are fewer than ``min_train_windows``
is refused (:func:`check_training_size`). In a panel of several tickers, a ticker a
fold would test with fewer than ``min_train_windows`` training windows of its own (its
series starts too late), or that no fold tests (its series ends too early), is left
out of every fold: the remaining tickers keep one set of folds, cut on their days, and
:attr:`fincast.evaluation.folds.Fold.left_out` names each ticker left out and why (one
WARNING is logged by :func:`fincast.evaluation.folds.make_folds`). One ticker alone, or
a panel whose every ticker is short, is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import pandas as pd

from fincast.data.windows import Windows


@dataclass(frozen=True)
class ShortTicker:
    """Why one ticker cannot take part in the folds, and the error that says so alone."""

    reason: str
    error: str


def short_of_training(
    train: Windows,
    test: Windows,
    index: int,
    min_train_windows: int,
    dailies: Mapping[str, pd.DataFrame],
) -> dict[str, ShortTicker]:
    """The tickers fold ``index`` tests with fewer than ``min_train_windows`` windows of
    their own (a ticker's baselines fit on its own past, whatever the pooled count)."""
    counts = pd.Series(train.tickers).value_counts()
    needed = max(min_train_windows, 1)
    found: dict[str, ShortTicker] = {}
    for name in pd.unique(test.tickers):
        ticker, count = str(name), int(counts.get(name, 0))
        if count >= needed:
            continue
        first = pd.Timestamp(test.first_target[test.tickers == name].min()).date()
        daily = dailies.get(ticker)
        begins = daily.index.min() if daily is not None and len(daily) else None
        starts = f"; its series starts {begins.date()}" if begins is not None else ""
        reason = (
            f"{count} training windows before its first test day {first} (fold {index}), "
            f"fewer than min_train_windows={min_train_windows}{starts}"
        )
        error = (
            f"Fold {index} tests {ticker!r} from {first}, but {ticker!r} has {count} "
            f"training windows before it, fewer than min_train_windows={min_train_windows} "
            "(its series starts too late for this plan). Use fewer folds or a smaller step, "
            f"or leave {ticker!r} out. Received: training windows of {ticker!r}={count}"
        )
        found[ticker] = ShortTicker(reason, error)
    return found


def untested(
    windows: Windows,
    tests: Iterable[Windows],
    short: Mapping[str, ShortTicker],
    test_days: pd.DatetimeIndex,
) -> dict[str, ShortTicker]:
    """The tickers of ``windows`` that none of the ``tests`` holds (and not already
    ``short``): their series end before the first of the ``test_days``."""
    tested = set(np.concatenate([test.tickers for test in tests]).tolist())
    found: dict[str, ShortTicker] = {}
    for ticker in pd.unique(windows.tickers):
        if ticker not in tested and ticker not in short:
            last = pd.Timestamp(windows.last_target[windows.tickers == ticker].max())
            reason = (
                f"no test windows: its last target day {last.date()} is before the first "
                f"test day {test_days[0].date()}"
            )
            found[str(ticker)] = ShortTicker(reason, f"{ticker!r} has {reason}.")
    return found


def leave_out(
    windows: Windows,
    dailies: Mapping[str, pd.DataFrame],
    short: Mapping[str, ShortTicker],
    left_out: Mapping[str, str],
) -> tuple[Windows, dict[str, pd.DataFrame], dict[str, str]]:
    """Drop the ``short`` tickers from the windows and daily series, adding each to the
    tickers ``left_out`` with its reason.

    Raises:
        ValueError: one ticker alone is short, or every ticker of the panel is.
    """
    names = [str(name) for name in pd.unique(windows.tickers)]
    if len(names) < 2 or len(short) == len(names):
        refuse(short, names, left_out)
    left = {**left_out, **{ticker: found.reason for ticker, found in short.items()}}
    kept = windows.select(~np.isin(windows.tickers, list(short)))
    return kept, {ticker: frame for ticker, frame in dailies.items() if ticker not in left}, left


def refuse(
    short: Mapping[str, ShortTicker], names: list[str], left_out: Mapping[str, str]
) -> NoReturn:
    """Raise the first short ticker's error; for a panel, say every ticker is short."""
    first = next(iter(short.values())).error
    if len(names) < 2 and not left_out:
        raise ValueError(first)
    every = {**left_out, **{ticker: found.reason for ticker, found in short.items()}}
    raise ValueError(
        f"Every ticker of the panel has too little history for this plan; {first} "
        f"Received: reasons={every}"
    )


def left_out_warning(
    left_out: Mapping[str, str], kept: int, folds: int, step: int, min_train_windows: int
) -> str:
    """The WARNING that names the tickers left out and why, ``kept`` others sharing the
    folds of a plan of ``folds`` x ``step`` test days."""
    reasons = "; ".join(f"{ticker}: {reason}" for ticker, reason in left_out.items())
    return (
        f"Left out {len(left_out)} of {len(left_out) + kept} tickers with too little history "
        f"for folds={folds} x step={step} (min_train_windows={min_train_windows}); the other "
        f"tickers share the folds: {reasons}"
    )


def check_training_size(
    size: int, index: int, min_train_windows: int, days: int, folds: int, step: int
) -> None:
    """Refuse fold ``index`` training on ``size`` windows, fewer than ``min_train_windows``:
    ``days`` days of windows cannot hold ``folds`` x ``step`` test days and the training.

    Raises:
        ValueError: too few training windows, saying how many.
    """
    if size >= min_train_windows:
        return
    raise ValueError(
        f"Fold {index} would train on {size} windows, fewer than "
        f"min_train_windows={min_train_windows}: {days} days of windows cannot hold "
        f"folds={folds} x step={step} test days and enough training data. "
        "Use fewer folds, a smaller step, or more data."
    )
