"""The Runs page: the MLflow experiment as a sortable table, runs side by side, a UI link."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from dashboard_helpers import Store, run_page, shown

PAGE = "views/runs.py"


def runs_frame(app):
    return next(table.value for table in app.dataframe if "run_id" in table.value.columns)


def test_no_store_says_how_to_make_one(env: Path) -> None:
    app = run_page(PAGE)

    assert any("make run" in shown(info.value) for info in app.info)
    assert app.get("link_button")[0].proto.url == "http://127.0.0.1:5999"
    assert not app.dataframe and not app.error
    assert not (env / "mlflow.db").exists()


def test_every_run_is_listed_with_a_link(served: Store) -> None:
    app = run_page(PAGE)

    table = runs_frame(app)
    assert set(table["run_id"]) == {served.model_run, served.backtest_run}
    row = table.set_index("run_id").loc[served.model_run]
    client = mlflow.MlflowClient(served.uri)
    run = client.get_run(served.model_run)
    assert row["test_mae"] == pytest.approx(run.data.metrics["test_mae"], rel=1e-12)
    assert row["link"] == (
        f"http://127.0.0.1:5999/#/experiments/{run.info.experiment_id}/runs/{served.model_run}"
    )
    assert list(table["started"]) == sorted(table["started"], reverse=True)


def test_sorting_changes_the_order(served: Store) -> None:
    app = run_page(PAGE)
    newest_first = list(runs_frame(app)["run_id"])

    app.toggle[0].set_value(False).run()

    assert list(runs_frame(app)["run_id"]) == newest_first[::-1]
    app.selectbox[0].set_value("run").run()
    assert list(runs_frame(app)["run"]) == ["backtest-returns-mlp-jax", "mlp-jax"]


def test_compare_shows_metrics_and_params_side_by_side(served: Store) -> None:
    app = run_page(PAGE)
    chosen = app.multiselect[0]
    assert len(chosen.value) == 2

    metrics = next(t.value for t in app.dataframe if t.value.index.name == "metrics")
    client = mlflow.MlflowClient(served.uri)
    model_run = client.get_run(served.model_run)
    column = next(c for c in metrics.columns if served.model_run[:8] in c)
    for name, value in model_run.data.metrics.items():
        if not name.startswith("epoch_"):
            assert metrics.loc[name, column] == pytest.approx(value, rel=1e-12)
    params = next(t.value for t in app.dataframe if t.value.index.name == "params")
    assert "model.name" in params.index  # differs: mlp vs mlp-backtest
    assert params.loc["model.name"].tolist().count("mlp") == 1

    chosen.set_value([served.model_run]).run()

    assert not app.exception
    params = next(t.value for t in app.dataframe if t.value.index.name == "params")
    assert params.loc["seed"].tolist() == ["42"]
    assert len(params.columns) == 1
