"""The Forecast page's quick training: a background thread, progress, one run at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from dashboard_helpers import run_page

from fincast.dashboard import quicktrain
from fincast.dashboard.quicktrain import QuickSettings, QuickTrainer, TrainingProgress


def test_a_second_start_is_refused_while_one_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow_train(settings: QuickSettings, progress: TrainingProgress) -> None:
        progress.update("training: epoch 1 of 1", 0.5)
        release.wait(30)

    monkeypatch.setattr(quicktrain, "train", slow_train)
    trainer = QuickTrainer()
    assert trainer.start(QuickSettings()) is True
    assert trainer.progress.running and trainer.progress.fraction == 0.5
    assert trainer.start(QuickSettings()) is False
    release.set()
    assert trainer.wait(30).state == "done"
    assert trainer.progress.fraction == 1.0


def test_a_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(settings: QuickSettings, progress: TrainingProgress) -> None:
        raise ValueError("no data\nat all")

    monkeypatch.setattr(quicktrain, "train", broken)
    trainer = QuickTrainer()
    trainer.start(QuickSettings())
    progress = trainer.wait(30)
    assert progress.state == "failed" and progress.error == "no data at all"
    assert trainer.start(QuickSettings()) is True  # a failed run does not block the next one
    trainer.wait(30)


def test_progress_callback_moves_through_the_epochs() -> None:
    import keras

    progress = TrainingProgress(state="running")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen: list[float] = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            seen.append(progress.fraction)

    data = np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")
    model.fit(
        *data,
        epochs=2,
        batch_size=4,
        verbose=0,
        callbacks=[quicktrain.progress_callback(progress), Spy()],
    )
    assert seen == sorted(seen) and seen[-1] == pytest.approx(0.85)
    assert progress.phase == "training: epoch 2 of 2"


def test_quick_job_is_a_small_mlp_on_the_sample_with_progress(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The quick job spec follows the settings; training reports progress through a callback."""
    settings = QuickSettings(units=(4,), lookback=7, horizon=2, epochs=1, models_dir=str(tmp_path))
    job = quicktrain.quick_job(settings)
    assert job.data.source == "sample" and job.data.tickers == ["^GSPC", "^IXIC"]
    assert job.model.name == "mlp" and job.model.builder["units"] == [4]
    assert (job.task.lookback, job.task.horizon, job.training.epochs) == (7, 2, 1)
    assert job.evaluation.test_days == 60 and job.paths.models == str(tmp_path)
    seen = {}

    def fake_run_training(job, callbacks=()):
        seen.update(job=job, callbacks=list(callbacks))
        raise RuntimeError("stop here")

    monkeypatch.setattr("fincast.training.pipeline.run_training", fake_run_training)
    with pytest.raises(RuntimeError, match="stop here"):
        quicktrain.train(settings, TrainingProgress(state="running"))
    assert seen["job"] == job
    assert [type(callback).__name__ for callback in seen["callbacks"]] == ["ReportProgress"]


@pytest.mark.slow
def test_quick_training_from_the_page_gives_a_registered_model(env: Path) -> None:
    app = run_page("views/forecast.py")
    caption = " ".join(caption.value for caption in app.caption)
    assert "under a minute" not in caption and "progress shows below" in caption
    app.button[0].click().run()
    assert not app.exception
    trainer = app.session_state["fincast.quick_trainer"]
    assert trainer.progress.running or trainer.progress.state == "done"

    progress = trainer.wait(timeout=600)
    assert progress.state == "done", progress.error
    assert progress.model_uri == "models:/fincast-returns-mlp/1", progress.notes
    assert Path(progress.model_path).is_file()
    recording = [name for name in progress.timings if name.startswith("recording")]
    assert "recording: the model (save, check the served example, register)" in recording
    assert "training" in progress.timings
    app.run()

    assert not app.exception and not app.error
    model = app.sidebar.selectbox(key="fincast.model_uri.widget")
    assert model.value == progress.model_uri and model.value != "Other model URI..."
    assert len(app.get("plotly_chart")) == 1
    assert (env / "mlflow.db").is_file()

    # the picker keeps the new model when the user does something else
    app.sidebar.selectbox(key="fincast.ticker.widget").set_value("^IXIC").run()
    assert not app.exception and not app.error
    assert app.sidebar.selectbox(key="fincast.model_uri.widget").value == progress.model_uri
    assert not any("no registered model" in info.value for info in app.info)
    assert len(app.get("plotly_chart")) == 1

    # the next estimate is this measurement
    timing = quicktrain.measured_timing(str(env / "models"))
    assert timing is not None and timing["seconds"] == pytest.approx(progress.elapsed, abs=0.2)
    assert f"took {timing['seconds']:.0f} s" in quicktrain.estimate_text(str(env / "models"))


def test_stages_are_timed_and_the_estimate_is_the_last_measurement(tmp_path: Path) -> None:
    progress = TrainingProgress(state="running", started=1.0)
    progress.stage("training", 0.1)
    progress.stage("recording: the model", 0.9)
    progress.end_stage()
    assert list(progress.timings) == ["training", "recording: the model"]
    assert progress.phase == "recording: the model" and progress.fraction == 0.9
    progress.finished = 73.0
    quicktrain.save_timing(str(tmp_path), progress)
    text = quicktrain.estimate_text(str(tmp_path))
    assert text.startswith("The last quick training here took 72 s in all")
    assert quicktrain.estimate_text(str(tmp_path / "none")) == (
        "Its progress shows below while it runs."
    )


def test_a_failed_training_ends_the_opened_run_as_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The store is opened while the model trains; a training failure ends that run FAILED."""
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"

    def broken(job, callbacks=()):
        raise RuntimeError("no data")

    monkeypatch.setattr("fincast.training.pipeline.run_training", broken)
    settings = QuickSettings(models_dir=str(tmp_path / "models"), tracking_uri=uri)
    with pytest.raises(RuntimeError, match="no data"):
        quicktrain.train(settings, TrainingProgress(state="running"))
    runs = mlflow.MlflowClient(uri).search_runs(
        [mlflow.MlflowClient(uri).get_experiment_by_name("fincast").experiment_id]
    )
    assert [run.info.status for run in runs] == ["FAILED"]
