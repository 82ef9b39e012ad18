"""The Runs page: the sidebar's task and model as a sortable table, like with like, a UI link."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from dashboard_helpers import Store, run_page, shown
from more_runs import MoreRuns, add_runs

PAGE = "views/runs.py"
FIRST = ["run", "task", "model", "backend", "test_mae_vs_naive", "link"]


def runs_frame(app):
    return next(table.value for table in app.dataframe if "run_id" in table.value.columns)


def toggle(app, label: str):
    return next(switch for switch in app.toggle if switch.label.startswith(label))


def sidebar(app, label: str):
    return next(box for box in app.sidebar.selectbox if box.label == label)


@pytest.fixture
def more(served: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MoreRuns:
    """The served store with runs of another task, model, backend and kind added."""
    runs = add_runs(served, tmp_path / "more")
    monkeypatch.setenv("FINCAST_TRACKING_URI", runs.uri)
    return runs


def test_no_store_says_how_to_make_one(env: Path) -> None:
    app = run_page(PAGE)

    assert any("make run" in shown(info.value) for info in app.info)
    assert app.get("link_button")[0].proto.url == "http://127.0.0.1:5999"
    assert not app.dataframe and not app.error
    assert not (env / "mlflow.db").exists()


def test_the_table_starts_with_name_task_model_backend_score_and_link(served: Store) -> None:
    app = run_page(PAGE)

    table = runs_frame(app)
    assert list(table.columns[: len(FIRST)]) == FIRST
    assert list(table["run_id"]) == [served.model_run]  # training runs of returns/mlp
    row = table.set_index("run_id").loc[served.model_run]
    client = mlflow.MlflowClient(served.uri)
    run = client.get_run(served.model_run)
    assert (row["run"], row["task"], row["model"], row["backend"]) == (
        "mlp-jax",
        "returns",
        "mlp",
        "jax",
    )
    assert row["test_mae_vs_naive"] == pytest.approx(run.data.metrics["test_mae_vs_naive"])
    assert row["link"] == (
        f"http://127.0.0.1:5999/#/experiments/{run.info.experiment_id}/runs/{served.model_run}"
    )


def test_the_backend_is_the_one_that_ran_not_the_requested_auto(more: MoreRuns) -> None:
    app = run_page(PAGE)

    table = runs_frame(app).set_index("run_id")
    assert table.loc[more.auto_training, "backend"] == "tensorflow"


def test_the_table_follows_the_sidebar_task_and_keeps_kinds_apart(
    served: Store, more: MoreRuns
) -> None:
    app = run_page(PAGE)
    assert set(runs_frame(app)["run_id"]) == {served.model_run, more.auto_training}

    app.selectbox[0].set_value("test_mae_vs_naive").run()  # the key score: no volatility run
    assert set(runs_frame(app)["task"]) == {"returns"}
    assert set(runs_frame(app)["run_id"]) == {served.model_run, more.auto_training}

    app.radio[0].set_value("backtest").run()
    table = runs_frame(app)
    assert list(table.columns[4:6]) == ["wf_model_loss_vs_naive", "link"]
    assert list(table["run_id"]) == [more.returns_backtest]  # mlp only; newest first

    toggle(app, "Every returns model").set_value(True).run()
    assert list(runs_frame(app)["run_id"]) == [
        more.cnn_backtest,
        more.returns_backtest,
        served.backtest_run,
    ]

    sidebar(app, "Task").set_value("volatility").run()
    assert not app.exception
    table = runs_frame(app)
    assert set(table["task"]) == {"volatility"}
    assert list(table["run_id"]) == [more.volatility_training]


def test_sorting_changes_the_order(served: Store, more: MoreRuns) -> None:
    app = run_page(PAGE)
    newest_first = list(runs_frame(app)["run_id"])
    assert newest_first == [more.auto_training, served.model_run]

    toggle(app, "Descending").set_value(False).run()

    assert list(runs_frame(app)["run_id"]) == newest_first[::-1]
    app.selectbox[0].set_value("run").run()
    assert list(runs_frame(app)["run"]) == ["mlp-jax", "mlp-tensorflow"]


def test_the_default_comparison_is_like_with_like(served: Store, more: MoreRuns) -> None:
    app = run_page(PAGE)
    chosen = app.multiselect[0]
    assert set(chosen.value) == {more.auto_training, served.model_run}  # training, returns

    metrics = next(t.value for t in app.dataframe if t.value.index.name == "metrics")
    client = mlflow.MlflowClient(more.uri)
    model_run = client.get_run(served.model_run)
    column = next(c for c in metrics.columns if served.model_run[:8] in c)
    for name, value in model_run.data.metrics.items():
        if not name.startswith("epoch_"):
            assert metrics.loc[name, column] == pytest.approx(value, rel=1e-12)
    assert not any(name.startswith("wf_") for name in metrics.index)  # no backtest beside it
    params = next(t.value for t in app.dataframe if t.value.index.name == "params")
    assert params.loc["seed"].tolist().count("7") == 1  # only what differs

    chosen.set_value([served.model_run]).run()

    assert not app.exception
    params = next(t.value for t in app.dataframe if t.value.index.name == "params")
    assert params.loc["seed"].tolist() == ["42"]
    assert len(params.columns) == 1
