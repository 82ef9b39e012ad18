"""The Backtest page: saved walk-forward results (MLflow run or folder), never recomputed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from dashboard_helpers import Store, markdown_is_safe, run_page, shown
from more_runs import MoreRuns, add_runs

from fincast.dashboard.backtests import read_result, verdict_parts

PAGE = "views/backtest.py"


def frames(app) -> list[pd.DataFrame]:
    return [table.value for table in app.dataframe]


def check_tables_match(app, folder: Path) -> None:
    """Every table on the page equals the saved files it came from."""
    saved = read_result(folder)
    shown_frames = frames(app)
    metrics = next(f for f in shown_frames if "mse" in f.columns)
    pd.testing.assert_series_equal(metrics["mae"], saved.scores["mae"], check_names=False)
    tests = next(f for f in shown_frames if f.index.name == "model against")
    assert list(tests.index) == ["naive", "historical_quantiles"]
    assert tests.loc["naive", "all"] == pytest.approx(saved.scores.loc["naive", "dm_p_all"])
    folds = next(f for f in shown_frames if "loss_model" in f.columns)
    pd.testing.assert_frame_equal(folds, saved.folds)
    trading = next(f for f in shown_frames if "sharpe" in f.columns)
    pd.testing.assert_frame_equal(trading, saved.trading)
    calibration = next(f for f in shown_frames if "empirical" in f.columns)
    assert calibration.to_dict("records") == [
        {"forecaster": "historical_quantiles", "nominal": 0.8, "empirical": 0.79},
        {"forecaster": "historical_quantiles", "nominal": 0.9, "empirical": 0.88},
    ]
    lines = [shown(md.value) for md in app.markdown]
    for verdict in saved.verdicts:
        assert f"- {verdict_parts(verdict)[0]}" in lines
    charts = [
        json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")
    ]
    assert charts == [
        "Loss per fold",
        "Interval calibration",
        "Equity curve (growth of 1, after costs)",
    ]


def test_no_store_says_how_to_make_a_backtest(env: Path) -> None:
    app = run_page(PAGE)

    message = " ".join(shown(info.value) for info in app.info)
    assert "fincast-backtest evaluation=walkforward" in message
    assert not app.error and not app.get("plotly_chart")
    assert any("Hold-out scores" in header.value for header in app.subheader)


def backtest_box(app):
    return next(box for box in app.selectbox if box.label == "Backtest")


def labels(app) -> list[str]:
    """The listed backtests' labels (AppTest gives a selectbox's options as shown)."""
    return list(backtest_box(app).options)


@pytest.fixture
def more(served: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MoreRuns:
    """The served store with backtests of another task and model added, and saved folders."""
    runs = add_runs(served, tmp_path / "more")
    monkeypatch.setenv("FINCAST_TRACKING_URI", runs.uri)
    monkeypatch.setenv("FINCAST_BACKTEST_DIR", str(runs.backtest_dir))
    return runs


def test_results_from_the_backtest_run_match_the_saved_files(served: Store) -> None:
    app = run_page(PAGE)

    assert backtest_box(app).value == served.backtest_run  # the only returns backtest
    assert not app.get("selectbox") or all(s.label != "Result" for s in app.selectbox)
    assert not app.error
    check_tables_match(app, served.backtest_folder)
    markdown_is_safe(app)
    holdout = next(
        f for f in frames(app) if f.index.name == "forecaster" and "mae_vs_naive" in f.columns
    )
    assert holdout.index[0] == "model"


def test_only_backtests_of_the_sidebar_task_and_model_are_listed(
    served: Store, more: MoreRuns
) -> None:
    app = run_page(PAGE)

    assert len(labels(app)) == 1  # not the newer volatility one, nor a training run
    assert backtest_box(app).value == more.returns_backtest
    assert re.fullmatch(
        r"mlp · returns · \d{4}-\d\d-\d\d \d\d:\d\d UTC · 2 folds · \^GSPC", labels(app)[0]
    )
    assert "returns task" in shown(app.markdown[0].value)

    next(t for t in app.toggle if t.label.startswith("Backtests of every")).set_value(True).run()

    models = [label.split(" · ")[0] for label in labels(app)]
    assert models == ["cnn", "mlp", "mlp-backtest"]  # newest first
    backtest_box(app).set_value(more.cnn_backtest).run()
    assert any("no saved walk-forward backtest files" in shown(i.value) for i in app.info)
    assert not app.get("plotly_chart") and not app.exception


def test_the_page_follows_the_sidebar_to_volatility(more: MoreRuns) -> None:
    app = run_page(PAGE)

    next(s for s in app.sidebar.selectbox if s.label == "Task").set_value("volatility").run()

    assert not app.exception
    assert len(labels(app)) == 1
    assert backtest_box(app).value == more.volatility_backtest
    assert labels(app)[0].startswith("mlp · volatility · ")
    assert labels(app)[0].endswith(" · 3 folds · ^GSPC")
    assert "volatility task" in shown(app.markdown[0].value)

    app.radio[0].set_value("a saved folder").run()

    folder = backtest_box(app)
    assert len(labels(app)) == 1 and "2026-02-01" in folder.value
    assert labels(app)[0].startswith("mlp · volatility · ")


def test_the_per_fold_chart_has_integer_folds_and_distinct_series(served: Store) -> None:
    app = run_page(PAGE)

    chart = next(
        json.loads(c.proto.spec)
        for c in app.get("plotly_chart")
        if "Loss per fold" in json.loads(c.proto.spec)["layout"]["title"]["text"]
    )
    assert chart["layout"]["xaxis"]["tickvals"] == [0, 1]
    assert all(isinstance(tick, int) for tick in chart["layout"]["xaxis"]["tickvals"])
    styles = [(t["line"].get("dash"), t["marker"]["symbol"]) for t in chart["data"]]
    assert len(set(styles)) == len(styles) == 2
    assert chart["data"][-1]["name"] == "model"  # drawn last, on top


def test_results_from_a_saved_folder(served: Store) -> None:
    app = run_page(PAGE)

    app.radio[0].set_value("a saved folder").run()

    assert not app.exception and not app.error
    assert backtest_box(app).value == str(served.backtest_folder)
    assert labels(app)[0].startswith("model unknown · returns · ")
    check_tables_match(app, served.backtest_folder)
    text = " ".join(shown(item.value) for item in [*app.caption, *app.markdown])
    assert "Diebold-Mariano with a Newey-West HAC variance" in text  # which test ran
    assert "Model confidence set (Hansen, 90%): model, historical_quantiles" in text
    assert "SPA test (H0: no baseline beats the model): p=0.42" in text


def test_real_report_files_are_read(tmp_path: Path) -> None:
    """The files fincast's own report writer saves are what the page reads."""
    report_module = pytest.importorskip("fincast.evaluation.report")
    walkforward = pytest.importorskip("fincast.evaluation.walkforward")
    from fincast.data.sources import load_sample
    from jobs import make_job

    job = make_job(
        tickers=["^GSPC"],
        lookback=10,
        horizon=3,
        folds=2,
        step=40,
        min_train_windows=100,
        baselines=["naive", "historical_mean", "historical_quantiles"],
    )
    bars = load_sample(["^GSPC"])
    backtest = walkforward.backtest_panel(bars, job, with_model=False)["^GSPC"]
    report = report_module.build_report(backtest)
    report_module.save_report(report, tmp_path)

    result = read_result(tmp_path)

    assert result.meta["ticker"] == "^GSPC" and result.meta["folds"] == 2
    pd.testing.assert_frame_equal(result.scores, report.scores, check_dtype=False)
    assert result.probabilistic is not None and report.probabilistic is not None
    pd.testing.assert_frame_equal(result.probabilistic, report.probabilistic, check_dtype=False)
    assert set(result.folds.index) == {0, 1}
    assert result.equity is not None and list(result.equity.columns)[-1] == "buy_and_hold"


def test_a_quantile_backtest_shows_its_probabilistic_scores(
    served: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    folder = tmp_path / "saved" / "2026-01-01" / "00-00-00" / "backtest" / "GSPC"
    shutil.copytree(served.backtest_folder, folder)
    table = pd.DataFrame(
        {
            "step": ["all", "all", "h1"],
            "target": [0.8, 0.9, 0.8],
            "coverage": [0.79, 0.88, 0.81],
            "width": [0.025, 0.033, 0.024],
            "winkler": [0.034, 0.041, 0.033],
            "crps": [0.0037, 0.0037, 0.0036],
            "wis": [0.0037, 0.0037, 0.0036],
        },
        index=pd.Index(["historical_quantiles"] * 3, name="forecaster"),
    )
    table.to_csv(folder / "probabilistic.csv")
    monkeypatch.setenv("FINCAST_BACKTEST_DIR", str(tmp_path / "saved"))
    app = run_page(PAGE)
    app.radio[0].set_value("a saved folder").run()

    assert not app.exception and not app.error
    assert any(header.value == "Probabilistic scores" for header in app.subheader)
    overall = next(f for f in frames(app) if "wis" in f.columns and "step" not in f.columns)
    assert overall["target"].tolist() == [0.8, 0.9]
    assert overall.iloc[0]["coverage"] == 0.79 and overall.iloc[0]["forecaster"] == (
        "historical_quantiles"
    )
    steps = next(f for f in frames(app) if "step" in f.columns)
    assert steps["step"].tolist() == ["all", "all", "h1"]
    element = next(d for d in app.dataframe if "wis" in d.value.columns)
    headers = {
        name: value.get("label") for name, value in json.loads(element.proto.columns).items()
    }
    assert headers["coverage"] == "coverage (%)" and headers["target"] == "target coverage (%)"
    assert headers["winkler"] == "Winkler score (% log return)"
    assert headers["crps"] == "CRPS from quantiles (% log return)"
    assert headers["wis"] == "WIS (% log return)"


def test_a_point_backtest_says_it_has_no_probabilistic_scores(served: Store) -> None:
    app = run_page(PAGE)

    captions = " ".join(shown(caption.value) for caption in app.caption)
    assert "no probabilistic scores" in captions
