"""Train a small model in a background thread, with progress a page can poll.

The dashboard offers this when there is no model yet: one :class:`QuickTrainer` per
server process runs :func:`fincast.training.pipeline.run_training` on the bundled
sample with tiny settings, records the run in MLflow (so the model becomes the
champion of an empty registry) and reports its progress in a :class:`TrainingProgress`
that any session may read. A second start while one runs is refused.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fincast.specs import DataSpec, EvaluationSpec, FitSpec, JobSpec, ModelSpec, PathsSpec, TaskSpec

logger = logging.getLogger(__name__)


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

    @property
    def running(self) -> bool:
        """True while the worker thread is busy."""
        return self.state == "running"

    def update(self, phase: str, fraction: float | None = None) -> None:
        """Set the phase text and, when given, the share done (clipped to 0..1)."""
        self.phase = phase
        if fraction is not None:
            self.fraction = min(max(float(fraction), 0.0), 1.0)


def progress_callback(progress: TrainingProgress, share: tuple[float, float] = (0.1, 0.85)) -> Any:
    """A Keras callback that moves ``progress`` from ``share[0]`` to ``share[1]`` as batches run."""
    import keras

    start, stop = share

    class ReportProgress(keras.callbacks.Callback):
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
            progress.state = "done"
            progress.update("done", 1.0)
        except Exception as error:  # the page must learn about any failure
            logger.exception("Quick training failed")
            progress.error = " ".join(str(error).split()) or type(error).__name__
            progress.state = "failed"
            progress.update("failed")
        finally:
            progress.finished = time.time()


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
    """Train, save and (when a tracking URI is given) record the quick model."""
    from fincast.training.pipeline import run_training

    progress.update("loading the sample data", 0.05)
    outcome = run_training(quick_job(settings), callbacks=[progress_callback(progress)])
    progress.model_path = str(outcome.model_path)
    progress.model_uri = str(outcome.model_path)
    if settings.tracking_uri:
        progress.update("recording the run in MLflow", 0.9)
        progress.model_uri = record(settings, outcome, progress) or progress.model_uri


def record(settings: QuickSettings, outcome: Any, progress: TrainingProgress) -> str | None:
    """Log the quick run to MLflow and register its model; the registered URI or None."""
    import keras

    from fincast.tracking.run_tracker import RunTracker
    from fincast.tracking.store import TrackingError
    from fincast.training.record import record_training

    assert settings.tracking_uri is not None
    try:
        tracker = RunTracker(settings.tracking_uri, settings.experiment, run_name="quick-mlp")
    except TrackingError as error:
        progress.notes.append(f"Not recorded in MLflow: {error}")
        return None
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
    if tracker.failures:
        progress.notes.append("MLflow did not record: " + "; ".join(tracker.failures))
    return model_uri
