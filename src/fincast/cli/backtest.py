"""``fincast-backtest``: walk-forward backtest of the configured model against baselines.

``evaluation=walkforward``: refit the configured model and every baseline of the
task on each fold's training slice and score them on the same folds (tables,
DM tests, trading view, plots; saved under the Hydra output dir and logged to MLflow).
``evaluation=holdout`` (the default): score a registered or saved model on the data
after its training period, next to the naive and historical-mean baselines.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from fincast.cli.common import (
    fail,
    job_fields,
    load_model_and_bars,
    plain,
    run_hydra_app,
    start_backend,
    typed,
)

if TYPE_CHECKING:  # these import keras, which must wait for the backend choice
    from fincast.evaluation.folds import FoldPlan
    from fincast.evaluation.report import Report
    from fincast.evaluation.runner import FoldResult
    from fincast.evaluation.walkforward import WalkForwardJob
    from fincast.tracking.run_tracker import RunTracker

COMMAND = "fincast-backtest"


def fold_plan(config: DictConfig) -> FoldPlan:
    """The walk-forward fold plan of ``config.evaluation``, with checked value types."""
    from fincast.evaluation.folds import FoldPlan

    evaluation = config.evaluation
    optional = {
        key: None if evaluation.get(key) is None else typed(config, f"evaluation.{key}", int)
        for key in ("train_windows", "embargo")
    }
    return FoldPlan(
        folds=typed(config, "evaluation.folds", int),
        step=typed(config, "evaluation.step", int),
        window=str(evaluation.window),
        min_train_windows=typed(config, "evaluation.min_train_windows", int),
        refit_every=typed(config, "evaluation.refit_every", int),
        **optional,
    )


def walkforward_job(config: DictConfig) -> WalkForwardJob:
    """Turn the composed config into a :class:`WalkForwardJob`, checking value types.

    Raises:
        ValueError: a value of the wrong type, naming the key and the value.
    """
    from fincast.evaluation.walkforward import WalkForwardJob

    baselines = config.evaluation.get("baselines")
    return WalkForwardJob(
        **job_fields(config),
        quantiles=_quantiles(config),
        plan=fold_plan(config),
        baselines=None if baselines is None else [str(name) for name in baselines],
        n_jobs=typed(config, "evaluation.n_jobs", int),
    )


def _quantiles(config: DictConfig) -> list[float] | None:
    levels = config.task.get("quantiles")
    if levels is None:
        return None
    try:
        return [float(level) for level in levels]
    except (TypeError, ValueError):
        raise ValueError(
            f"task.quantiles must be a list of levels in (0, 1). Received: {levels!r}"
        ) from None


def output_dir() -> Path:
    """This run's Hydra output directory (``outputs/<date>/<time>`` by default)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _progress(ticker: str) -> Callable[[FoldResult, int], None]:
    def show(result: FoldResult, total: int) -> None:
        print(f"{ticker} {result.line(total, list(result.losses))}", file=sys.stderr, flush=True)

    return show


def _tracker(config: DictConfig, run_name: str) -> RunTracker | None:
    if not config.tracking.enabled:
        return None
    from fincast.tracking.run_tracker import RunTracker
    from fincast.tracking.store import TrackingError, resolve_uri

    try:
        return RunTracker(
            resolve_uri(config.tracking.uri), str(config.tracking.experiment), run_name
        )
    except TrackingError as error:
        fail(COMMAND, error)


def walk_forward(config: DictConfig, backend_tags: dict[str, str]) -> None:
    """Run, print, save and track the walk-forward backtest of every configured ticker."""
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.evaluation.plots import save_plots
    from fincast.evaluation.report import build_report, render, save_report
    from fincast.evaluation.trading import Strategy
    from fincast.evaluation.walkforward import backtest_series, load_job_bars

    try:
        job = walkforward_job(config)
        bars = load_job_bars(job)
        strategy = Strategy(**plain(config.evaluation.trading))
    except (MarketDataError, MarketDataUnavailable, ValueError, TypeError) as error:
        fail(COMMAND, error)
    tracker = _tracker(config, f"backtest-{job.task}-{job.model_family}-{backend_tags['backend']}")
    reports: list[Report] = []
    files: list[Path] = []
    for ticker, frame in bars.items():
        try:
            result = backtest_series(frame, job, ticker=ticker, progress=_progress(ticker))
        except (MarketDataError, ValueError) as error:
            if tracker:
                tracker.finish("FAILED")
            fail(COMMAND, error)
        report = build_report(result, strategy)
        folder = output_dir() / "backtest" / (re.sub(r"[^\w.-]", "", ticker) or "series")
        files += save_report(report, folder)
        if config.evaluation.get("plots", True):
            files += save_plots(report, folder)
        print(render(report) + "\n")
        reports.append(report)
    print(f"Tables, forecasts and plots saved under {output_dir() / 'backtest'}")
    if tracker:
        _record(tracker, config, reports, files, backend_tags)


def _record(
    tracker: RunTracker,
    config: DictConfig,
    reports: list[Report],
    files: list[Path],
    backend_tags: dict[str, str],
) -> None:
    from fincast.evaluation.record import record_backtest

    params = {**plain(config), "command": COMMAND}
    record_backtest(tracker, reports, files, params, OmegaConf.to_yaml(config), backend_tags)
    tracker.finish()
    print(f"MLflow run: {tracker.run_id} in {tracker.uri}")
    if tracker.failures:
        print(f"{COMMAND}: warning: MLflow did not record: {tracker.failures[0]}", file=sys.stderr)


def holdout(config: DictConfig) -> None:
    """Score a saved or registered model on the data after its fit period."""
    from fincast.data.sources import MarketDataError
    from fincast.evaluation.backtest import score_unseen

    forecaster, bars = load_model_and_bars(config, COMMAND)
    for ticker, frame in bars.items():
        try:
            scores = score_unseen(forecaster, frame)
        except (MarketDataError, ValueError) as error:
            fail(COMMAND, error)
        print(
            f"{ticker}: {scores.attrs['windows']} unseen windows, "
            f"{scores.attrs['first_day']} .. {scores.attrs['last_day']} ({forecaster.uri})"
        )
        print(scores.to_string(float_format=lambda value: f"{value:.6f}"))


def backtest(config: DictConfig) -> None:
    """The Hydra task of ``fincast-backtest``."""
    backend = start_backend(config, COMMAND)
    if config.evaluation.get("name") == "walkforward":
        walk_forward(config, backend.as_tags())
    else:
        holdout(config)


def main() -> None:
    """Console entry point."""
    run_hydra_app(backtest)


if __name__ == "__main__":
    main()
