"""Train a small model in a background thread, with progress a page can poll.

The dashboard offers this when there is no model yet: one :class:`QuickTrainer` per
server process runs :func:`fincast.training.pipeline.run_training` on the bundled
sample with tiny settings, records the run in MLflow (so the model becomes the
champion of an empty registry) and reports its progress in a :class:`TrainingProgress`
that any session may read. A second start while one runs is refused.

The MLflow store is opened in a second thread while the model trains (importing
MLflow and creating a new store's tables take seconds on a busy machine), each
recording step shows as its own phase, and how long every phase took is kept beside
the models (:data:`TIMING_FILE`), so the page's estimate is a measurement.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fincast.specs import DataSpec, EvaluationSpec, FitSpec, JobSpec, ModelSpec, PathsSpec, TaskSpec

logger = logging.getLogger(__name__)
TIMING_FILE = "quick_train_timing.json"
# what each RunTracker call records, as the page shows it while it runs
RECORDING_STEPS = {
    "log_params": "parameters",
    "set_tags": "tags",
    "log_text": "the configuration",
    "log_dataset": "the training data's profile",
    "log_history": "the training curves",
    "log_metrics": "the scores",
    "log_table": "the score and forecast tables",
    "log_model": "the model (save, check the served example, register)",
    "finish": "the end of the run",
}


@dataclass(frozen=True)
class QuickSettings:
    """The tiny training job: an MLP on both sample tickers, a few epochs."""

    tickers: tuple[str, ...] = ("^GSPC", "^IXIC")
    units: tuple[int, ...] = (32,)
    lookback: int = 20
    horizon: int = 5
    epochs: int = 3
    test_days: int = 60
    models_dir: str = "models"
    tracking_uri: str | None = None
    experiment: str = "fincast"


@dataclass
class TrainingProgress:
    """What a quick training job is doing; written by the worker thread, read by pages."""

    state: str = "idle"  # idle | running | done | failed
    phase: str = ""
    fraction: float = 0.0
    model_uri: str | None = None
    model_path: str | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    _stage: str = ""
    _stage_started: float = 0.0

    @property
    def running(self) -> bool:
        """True while the worker thread is busy."""
        return self.state == "running"

    def update(self, phase: str, fraction: float | None = None) -> None:
        """Set the phase text and, when given, the share done (clipped to 0..1)."""
        self.phase = phase
        if fraction is not None:
            self.fraction = min(max(float(fraction), 0.0), 1.0)

    def stage(self, name: str, fraction: float | None = None) -> None:
        """Start stage ``name`` (its time is added to :attr:`timings`) and show it as the phase."""
        self.end_stage()
        self._stage, self._stage_started = name, time.perf_counter()
        self.update(name, fraction)

    def end_stage(self) -> None:
        """Add the time since the current stage began to its entry in :attr:`timings`."""
        if self._stage:
            elapsed = time.perf_counter() - self._stage_started
            self.timings[self._stage] = self.timings.get(self._stage, 0.0) + elapsed
            self._stage = ""

    @property
    def elapsed(self) -> float:
        """Seconds since the job started (until it finished)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


def progress_callback(
    progress: TrainingProgress, share: tuple[float, float] = (0.1, 0.85), stage: str | None = None
) -> Any:
    """A Keras callback that moves ``progress`` from ``share[0]`` to ``share[1]`` as batches run.

    With ``stage``, the fit is timed as that stage, and the hold-out scoring and saving
    that follow it as the next one.
    """
    import keras

    start, stop = share

    class ReportProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            if stage:
                progress.stage(stage, start)

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            if stage:
                progress.stage("scoring on the held-out data and saving the model", stop)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            epochs = int(self.params.get("epochs") or 1)
            steps = int(self.params.get("steps") or 1)
            epoch = getattr(self, "_epoch", 0)
            done = (epoch + (batch + 1) / steps) / epochs
            progress.update(
                f"training: epoch {epoch + 1} of {epochs}", start + (stop - start) * done
            )

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch = epoch

    return ReportProgress()


class QuickTrainer:
    """Runs at most one quick training job at a time in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.progress = TrainingProgress()

    def start(self, settings: QuickSettings) -> bool:
        """Start a job unless one is running; return whether this call started it."""
        with self._lock:
            if self.progress.running:
                return False
            self.progress = TrainingProgress(state="running", phase="starting", started=time.time())
            progress = self.progress
            self._thread = threading.Thread(
                target=self._work,
                args=(settings, progress),
                name="fincast-quick-train",
                daemon=True,
            )
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> TrainingProgress:
        """Block until the current job (if any) ends or ``timeout`` passes; its progress."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.progress

    def _work(self, settings: QuickSettings, progress: TrainingProgress) -> None:
        try:
            train(settings, progress)
            progress.end_stage()
            progress.finished = time.time()
            save_timing(settings.models_dir, progress)
            progress.state = "done"
            progress.update("done", 1.0)
        except Exception as error:  # the page must learn about any failure
            logger.exception("Quick training failed")
            progress.error = " ".join(str(error).split()) or type(error).__name__
            progress.state = "failed"
            progress.update("failed")
        finally:
            progress.end_stage()
            progress.finished = progress.finished or time.time()


def quick_job(settings: QuickSettings) -> JobSpec:
    """The job spec of the quick training: an MLP on the bundled sample, a few epochs."""
    return JobSpec(
        data=DataSpec(source="sample", tickers=list(settings.tickers)),
        task=TaskSpec(lookback=settings.lookback, horizon=settings.horizon),
        model=ModelSpec(
            name="mlp",
            builder={
                "_target_": "fincast.models.builders.build_mlp",
                "units": list(settings.units),
            },
        ),
        training=FitSpec(epochs=settings.epochs, verbose=0),
        evaluation=EvaluationSpec(test_days=settings.test_days),
        paths=PathsSpec(models=settings.models_dir),
    )


def train(settings: QuickSettings, progress: TrainingProgress) -> None:
    """Train, save and (when a tracking URI is given) record the quick model.

    The MLflow store is opened in a second thread while the model trains.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="fincast-quick-store") as pool:
        opening = pool.submit(open_tracker, settings) if settings.tracking_uri else None
        progress.stage("loading Keras and the sample data", 0.05)
        try:
            from fincast.training.pipeline import run_training

            outcome = run_training(
                quick_job(settings), callbacks=[progress_callback(progress, stage="training")]
            )
        except BaseException:
            if opening is not None:
                end_unused_run(opening)
            raise
        progress.model_path = str(outcome.model_path)
        progress.model_uri = str(outcome.model_path)
        if opening is not None:
            progress.stage("recording: opening the MLflow store", 0.88)
            tracker = opening.result()
            progress.model_uri = record(settings, outcome, progress, tracker) or progress.model_uri


def open_tracker(settings: QuickSettings) -> Any:
    """A :class:`~fincast.tracking.run_tracker.RunTracker` for the quick run, or the error."""
    from fincast.tracking.run_tracker import RunTracker
    from fincast.tracking.store import TrackingError

    assert settings.tracking_uri is not None
    try:
        return RunTracker(settings.tracking_uri, settings.experiment, run_name="quick-mlp")
    except TrackingError as error:
        return error


def end_unused_run(opening: Future) -> None:
    """End the quick run as FAILED when training failed after the store was opened."""
    tracker = opening.result()
    if not isinstance(tracker, Exception):
        tracker.finish("FAILED")


def record(
    settings: QuickSettings, outcome: Any, progress: TrainingProgress, tracker: Any = None
) -> str | None:
    """Log the quick run to MLflow and register its model; the registered URI or None.

    Args:
        settings: the quick job's settings (its tracking URI and experiment).
        outcome: what :func:`fincast.training.pipeline.run_training` returned.
        progress: shows each recording step as it runs.
        tracker: an open RunTracker (or the error opening one); opened here when None.
    """
    import keras

    from fincast.training.record import record_training

    tracker = open_tracker(settings) if tracker is None else tracker
    if isinstance(tracker, Exception):
        progress.notes.append(f"Not recorded in MLflow: {tracker}")
        return None
    report_steps(tracker, progress)
    params = {
        "quick_train": dataclasses.asdict(settings),
        **dataclasses.asdict(quick_job(settings)),
    }
    model_uri = record_training(
        tracker,
        outcome,
        params=params,
        config_yaml=f"# dashboard quick training\n{params}\n",
        tags={"backend": keras.backend.backend(), "source": "dashboard quick training"},
    )
    tracker.finish()
    progress.end_stage()
    if tracker.failures:
        progress.notes.append("MLflow did not record: " + "; ".join(tracker.failures))
    return model_uri


def report_steps(tracker: Any, progress: TrainingProgress) -> None:
    """Wrap ``tracker``'s recording calls so that each one shows (and is timed) as a stage."""
    names = list(RECORDING_STEPS)
    for position, name in enumerate(names):
        method = getattr(tracker, name)
        fraction = 0.9 + 0.09 * position / len(names)
        setattr(
            tracker,
            name,
            _staged(method, f"recording: {RECORDING_STEPS[name]}", progress, fraction),
        )


def _staged(
    method: Callable[..., Any], stage: str, progress: TrainingProgress, fraction: float
) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        progress.stage(stage, fraction)
        return method(*args, **kwargs)

    return call


def save_timing(models_dir: str, progress: TrainingProgress) -> None:
    """Keep how long the quick job and each of its stages took (never raises)."""
    facts = {
        "seconds": round(progress.elapsed, 1),
        "stages": {name: round(seconds, 1) for name, seconds in progress.timings.items()},
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        path = Path(models_dir) / TIMING_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(facts, indent=2))
    except OSError as error:
        logger.warning("Could not keep the quick training's timing: %s", error)


def measured_timing(models_dir: str) -> dict[str, Any] | None:
    """The timing of the last quick job run here (:func:`save_timing`), or None."""
    try:
        facts = json.loads((Path(models_dir) / TIMING_FILE).read_text())
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) and "seconds" in facts else None


def estimate_text(models_dir: str) -> str:
    """What the page says about how long a quick job takes: a measurement, or no number.

    >>> estimate_text("/nonexistent")
    'Its progress shows below while it runs.'
    """
    facts = measured_timing(models_dir)
    if facts is None:
        return "Its progress shows below while it runs."
    stages = facts.get("stages") or {}
    recording = sum(seconds for name, seconds in stages.items() if name.startswith("recording"))
    return (
        f"The last quick training here took {facts['seconds']:.0f} s in all "
        f"({recording:.0f} s of it recording the run in MLflow), on {facts.get('finished', '?')}; "
        "a busy machine takes longer. Its progress shows below while it runs."
    )
