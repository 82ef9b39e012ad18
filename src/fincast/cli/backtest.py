"""``fincast-backtest``: walk-forward backtest of the configured model against baselines.

``evaluation=walkforward``: refit the configured model and every baseline of the
task on each fold's training slice and score them on the same folds (tables,
DM tests, trading view, plots; saved under the Hydra output dir and logged to MLflow).
Over several tickers it also scores the cross-section (IC, long-short portfolios,
per-ticker DM with multiple-testing control; :mod:`fincast.evaluation.universe`) and
names the tickers left out for too little history.
``evaluation=holdout`` (the default): score a registered or saved model on the data
after its training period, next to the naive and historical-mean baselines.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from fincast.cli.common import (
    fail,
    job_spec,
    load_models_and_bars,
    plain,
    run_hydra_app,
    start_backend,
)
from fincast.specs import JobSpec
from fincast.tracking.names import ticker_slug

if TYPE_CHECKING:  # these import keras, which must wait for the backend choice
    from fincast.evaluation.report import Report
    from fincast.evaluation.runner import FoldResult
    from fincast.evaluation.universe import Universe
    from fincast.evaluation.walkforward import WalkForward
    from fincast.tracking.run_tracker import RunTracker

COMMAND = "fincast-backtest"


def output_dir() -> Path:
    """This run's Hydra output directory (``outputs/<date>/<time>`` by default)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _progress(label: str, result: FoldResult, total: int) -> None:
    print(f"{label} {result.line(total, list(result.losses))}", file=sys.stderr, flush=True)


def _tracker(job: JobSpec, run_name: str) -> RunTracker | None:
    if not job.tracking.enabled:
        return None
    from fincast.tracking.run_tracker import RunTracker
    from fincast.tracking.store import TrackingError, resolve_uri

    try:
        return RunTracker(resolve_uri(job.tracking.uri), job.tracking.experiment, run_name)
    except TrackingError as error:
        fail(COMMAND, error)


def walk_forward(job: JobSpec, config: DictConfig, backend_tags: dict[str, str]) -> None:
    """Run, print, save and track the walk-forward backtest of every configured ticker.

    The model is backtested as ``fincast-train`` deploys it: pooled over every
    ticker, refitted per fold on all of them, or one model per ticker
    (``training.pooling``); the bars pass the same data checks as in training.
    Over several tickers, the cross-sectional scores follow the per-ticker reports.
    """
    from fincast.data.loading import load_checked_bars
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.evaluation.plots import save_plots
    from fincast.evaluation.report import build_report, render, save_report
    from fincast.evaluation.trading import Strategy
    from fincast.evaluation.walkforward import walk_forward_panel

    try:
        bars, _ = load_checked_bars(job.data, job.features.price)
    except (MarketDataError, MarketDataUnavailable, ValueError) as error:
        fail(COMMAND, error)
    strategy = Strategy(**vars(job.evaluation.trading))
    run_name = f"backtest-{job.task.name}-{job.model.name}-{backend_tags['backend']}"
    tracker = _tracker(job, run_name)
    try:
        walk = walk_forward_panel(bars, job, progress=_progress)
    except (MarketDataError, ValueError) as error:
        if tracker:
            tracker.finish("FAILED")
        fail(COMMAND, error)
    reports: list[Report] = []
    files: list[Path] = []
    for ticker, result in walk.backtests.items():
        report = build_report(
            result,
            strategy,
            dm_test=job.evaluation.dm_test,  # type: ignore[arg-type]
            mcs_size=job.evaluation.mcs_size,
        )
        folder = output_dir() / "backtest" / ticker_slug(ticker)
        files += save_report(report, folder)
        if job.evaluation.plots:
            files += save_plots(report, folder)
        print(render(report) + "\n")
        reports.append(report)
    universe = _universe(job, walk) if len(bars) > 1 else None
    if universe is not None:
        from fincast.evaluation.universe import FOLDER, render_universe, save_universe

        files += save_universe(universe, output_dir() / "backtest" / FOLDER)
        print(render_universe(universe) + "\n")
    print(f"Tables, forecasts and plots saved under {output_dir() / 'backtest'}")
    if tracker:
        _record(tracker, config, reports, files, backend_tags, universe)


def _universe(job: JobSpec, walk: WalkForward) -> Universe:
    """The cross-sectional scores of a walk-forward over several tickers."""
    from fincast.data.universe import known_sectors, ticker_sectors
    from fincast.evaluation.universe import evaluate_universe

    return evaluate_universe(
        walk.backtests,
        job.evaluation.cross_section,
        model=job.model.name,
        sectors=known_sectors(ticker_sectors(job.data.source, list(walk.backtests))),
        left_out=walk.left_out,
        dm_test=job.evaluation.dm_test,  # type: ignore[arg-type]
    )


def _record(
    tracker: RunTracker,
    config: DictConfig,
    reports: list[Report],
    files: list[Path],
    backend_tags: dict[str, str],
    universe: Universe | None = None,
) -> None:
    from fincast.evaluation.record import record_backtest

    params = {**plain(config), "command": COMMAND}
    record_backtest(
        tracker, reports, files, params, OmegaConf.to_yaml(config), backend_tags, universe
    )
    tracker.finish()
    print(f"MLflow run: {tracker.run_id} in {tracker.uri}")
    if tracker.failures:
        print(f"{COMMAND}: warning: MLflow did not record: {tracker.failures[0]}", file=sys.stderr)


def holdout(job: JobSpec) -> None:
    """Score a saved or registered model on the data after its fit period."""
    from fincast.data.sources import MarketDataError
    from fincast.evaluation.backtest import score_unseen

    forecasters, bars = load_models_and_bars(job, COMMAND)
    for ticker in [name for name in job.data.tickers if name in bars]:
        forecaster = forecasters[ticker]
        try:  # the other tickers' bars: the universe of a model's past covariates
            scores = score_unseen(forecaster, bars[ticker], ticker, universe=bars)
        except (MarketDataError, ValueError) as error:
            fail(COMMAND, error)
        print(
            f"{ticker}: {scores.attrs['windows']} unseen windows, "
            f"{scores.attrs['first_day']} .. {scores.attrs['last_day']} ({forecaster.uri})"
        )
        print(scores.to_string(float_format=lambda value: f"{value:.6f}"))


def backtest(config: DictConfig) -> None:
    """The Hydra task of ``fincast-backtest``."""
    job = job_spec(config, COMMAND)
    backend = start_backend(config, COMMAND)
    if job.evaluation.name == "walkforward":
        walk_forward(job, config, backend.as_tags())
    else:
        holdout(job)


def main() -> None:
    """Console entry point."""
    run_hydra_app(backtest)


if __name__ == "__main__":
    main()
