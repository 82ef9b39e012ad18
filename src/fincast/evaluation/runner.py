"""Run every forecaster over the walk-forward folds, in this process or in worker processes.

Folds between two refits form a group (they share the fitted forecasters), so the
groups are the unit of parallel work. A worker process selects the Keras backend
before anything imports Keras, then unpickles its folds and forecasters.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from fincast.backend import active_host_devices
from fincast.data.windows import Windows
from fincast.evaluation.folds import Fold
from fincast.evaluation.forecasters import Candidate
from fincast.quantiles import point_forecast

Loss = Callable[[np.ndarray, np.ndarray], float]
FOLD_DAYS = ("first_origin", "last_origin", "first_target", "last_target")


@dataclass
class FoldResult:
    """Forecasts of every candidate on one fold, with dates, sizes and timings.

    Dates are named for what they are: an *origin* is the last input day of a window
    (when its forecast is made), a *target* day one it forecasts. Adjacent folds'
    test origins never overlap; their target days do, by the horizon.
    """

    index: int
    refit: bool
    # train_first_origin, train_last_origin, train_first_target, ..., test_last_target
    dates: dict[str, str]
    train_windows: int
    test_windows: int
    seconds: float
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)
    seconds_by: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)

    def line(self, total: int, names: Sequence[str]) -> str:
        """One progress line: fold, dates, windows, time and each named candidate's loss."""
        scores = "  ".join(f"{name} {self.losses[name]:.4g}" for name in names)
        refit = "refit" if self.refit else "reused"
        day = self.dates
        return (
            f"fold {self.index + 1}/{total}: train targets {day['train_first_target']}.."
            f"{day['train_last_target']} ({self.train_windows} windows, {refit}) | test origins "
            f"{day['test_first_origin']}..{day['test_last_origin']} ({self.test_windows}) | "
            f"{self.seconds:.1f} s | loss {scores}"
        )


def run_fold(fold: Fold, candidates: Sequence[Candidate], loss: Loss) -> FoldResult:
    """Forecast ``fold``'s test windows with every candidate, timing each."""
    started = time.perf_counter()
    result = FoldResult(
        index=fold.index,
        refit=fold.refit,
        dates={**_dates("train", fold.train), **_dates("test", fold.test)},
        train_windows=len(fold.train),
        test_windows=len(fold.test),
        seconds=0.0,
    )
    for candidate in candidates:
        began = time.perf_counter()
        forecast = forecast_fold(candidate, fold)
        result.seconds_by[candidate.name] = time.perf_counter() - began
        result.forecasts[candidate.name] = forecast
        point = point_forecast(forecast, candidate.levels)
        result.losses[candidate.name] = float(loss(fold.test.targets, point))
    result.seconds = time.perf_counter() - started
    return result


def _dates(part: str, windows: Windows) -> dict[str, str]:
    """First and last origin and target day of ``windows``, keyed ``<part>_first_origin``..."""
    days = dict(
        zip(
            FOLD_DAYS,
            (
                windows.as_of.min(),
                windows.as_of.max(),
                windows.first_target.min(),
                windows.last_target.max(),
            ),
            strict=True,
        )
    )
    return {f"{part}_{key}": str(day.date()) for key, day in days.items()}


def forecast_fold(candidate: Candidate, fold: Fold) -> np.ndarray:
    """``candidate``'s forecasts of the fold's test windows, in their order.

    A pooled candidate forecasts the whole fold; any other forecasts each ticker's
    part of it (its own history only), and the parts are put back in place.
    """
    if candidate.pooled or len(fold.tickers) == 1:
        return np.asarray(candidate.forecast(fold))
    parts = {
        ticker: np.asarray(candidate.forecast(fold.of(ticker)))
        for ticker in fold.tickers
        if np.any(fold.test.tickers == ticker)
    }
    first = next(iter(parts.values()))
    forecast = np.empty((len(fold.test), *first.shape[1:]), dtype=first.dtype)
    for ticker, part in parts.items():
        forecast[fold.test.tickers == ticker] = part
    return forecast


# called with the group's label, a fold's result and the group's fold count
Progress = Callable[[str, FoldResult, int], None]


@dataclass(frozen=True)
class ModelGroup:
    """The folds one model (and the baselines beside it) is backtested on.

    Attributes:
        label: a ticker, or ``pooled (<n> tickers)``, for progress lines and logs.
        folds: the group's folds, in order.
        candidates: the model and the baselines, unfitted.
    """

    label: str
    folds: list[Fold]
    candidates: list[Candidate]


def refit_positions(folds: Sequence[Fold]) -> list[list[int]]:
    """Positions of the folds of each unit: consecutive folds sharing one fit.

    >>> from types import SimpleNamespace
    >>> refit_positions([SimpleNamespace(refit=flag) for flag in (True, False, True)])
    [[0, 1], [2]]
    """
    units: list[list[int]] = []
    for position, fold in enumerate(folds):
        if fold.refit or not units:
            units.append([])
        units[-1].append(position)
    return units


def refit_groups(folds: Sequence[Fold]) -> list[list[Fold]]:
    """Consecutive folds that share one fit: each group starts at a refit fold."""
    return [[folds[position] for position in unit] for unit in refit_positions(folds)]


def run_group(
    folds: Sequence[Fold], candidates: Sequence[Candidate], loss: Loss
) -> list[FoldResult]:
    """Run consecutive folds that share one fit, in order, in this process."""
    return [run_fold(fold, candidates, loss) for fold in folds]


def active_backend() -> str:
    """The Keras backend of this process (or the one ``KERAS_BACKEND`` asks for), for workers."""
    keras = sys.modules.get("keras")
    return keras.backend.backend() if keras else os.environ.get("KERAS_BACKEND", "auto")


def _run_group_in_worker(backend: str, host_devices: int, payload: bytes) -> list[FoldResult]:
    """Worker entry: fix the backend (and JAX's CPU devices, as this process's) BEFORE
    unpickling, which may import Keras."""
    from fincast.backend import select_backend

    select_backend(backend, host_devices)
    folds, candidates, loss = pickle.loads(payload)  # noqa: S301 (our own payload)
    return run_group(folds, candidates, loss)


def historical_forecasts(
    folds: Sequence[Fold],
    candidates: Sequence[Candidate],
    loss: Loss,
    *,
    n_jobs: int = 1,
    progress: Callable[[FoldResult], None] | None = None,
) -> list[FoldResult]:
    """Every candidate's forecasts on every fold, sorted by fold.

    Args:
        folds: from :func:`fincast.evaluation.folds.make_folds`.
        candidates: the model and the baselines.
        loss: ``loss(actual, point_forecast)`` for the progress line.
        n_jobs: worker processes (1: this process; -1: one per CPU core). Groups of
            folds between refits run in parallel.
        progress: called with each fold's result as it completes.
    """
    results: list[FoldResult] = []
    for group_results in _group_results(folds, candidates, loss, n_jobs):
        for result in group_results:
            if progress is not None:
                progress(result)
            results.append(result)
    return sorted(results, key=lambda result: result.index)


def _group_results(
    folds: Sequence[Fold], candidates: Sequence[Candidate], loss: Loss, n_jobs: int
) -> Iterator[list[FoldResult]]:
    groups = refit_groups(folds)
    requested = (os.cpu_count() or 1) if n_jobs == -1 else max(n_jobs, 1)
    workers = min(len(groups), requested)
    if workers <= 1:
        for group in groups:
            yield run_group(group, candidates, loss)
        return
    from joblib import Parallel, delayed

    backend, host_devices = active_backend(), active_host_devices()
    payloads = [pickle.dumps((group, list(candidates), loss)) for group in groups]
    parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
    yield from parallel(
        delayed(_run_group_in_worker)(backend, host_devices, payload) for payload in payloads
    )
