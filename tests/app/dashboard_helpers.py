"""Helpers of the dashboard tests: paths, a saved backtest writer, page runners, checks."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app"
TICKERS = ["^GSPC", "^IXIC"]
EVIL = "<img src=x onerror=alert(1)>"
TIMEOUT = 180


@dataclass
class Store:
    """A tracking store holding one registered model (champion) and one backtest run."""

    uri: str
    model_path: Path
    model_run: str
    backtest_run: str
    backtest_folder: Path
    registered: str


def write_backtest(folder: Path) -> Path:
    """A small saved walk-forward backtest in the layout ``save_report`` writes.

    Real numbers are not needed to test how the page reads and shows them; the
    layout matches :func:`fincast.evaluation.report.save_report`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scores = pd.DataFrame(
        {
            "mse": [0.00025, 0.00012, 0.00013],
            "mae": [0.0111, 0.0075, 0.0076],
            "cover_80": [float("nan"), float("nan"), 0.79],
            "cover_90": [float("nan"), float("nan"), 0.88],
            "dm_p_h1": [float("nan"), 0.04, 0.20],
            "dm_p_all": [float("nan"), 0.0004, 0.31],
        },
        index=pd.Index(["model", "naive", "historical_quantiles"], name="forecaster"),
    )
    scores.to_csv(folder / "scores.csv")
    folds = pd.DataFrame(
        {"refit": [True, True], "loss_model": [0.3, 0.2], "loss_naive": [0.25, 0.22]},
        index=pd.Index([0, 1], name="index"),
    )
    folds.to_csv(folder / "folds.csv")
    trading = pd.DataFrame(
        {"annual_return": [0.01, -0.2], "sharpe": [0.1, -1.7]},
        index=pd.Index(["model", "buy_and_hold"], name="strategy"),
    )
    trading.to_csv(folder / "trading.csv")
    dates = pd.bdate_range("2018-07-02", periods=4)
    pd.DataFrame(
        {"model": [1.0, 1.01, 1.0, 1.02], "buy_and_hold": [1.0, 0.99, 0.98, 0.97]}, index=dates
    ).to_csv(folder / "equity.csv")
    report = {
        "task": "returns",
        "ticker": "^GSPC",
        "horizon": 3,
        "folds": 2,
        "windows": 120,
        "first_origin": "2018-07-02",
        "last_origin": "2018-12-21",
        "dm_test": "hac",
        "dm_test_name": "Diebold-Mariano with a Newey-West HAC variance",
        "mcs": {"size": 0.1, "included": ["model", "historical_quantiles"], "block": 11},
        "spa_p": 0.42,
        "verdicts": [
            "model vs naive: worse than naive (p=0.00036); per step: h1 worse than naive (p=0.04)",
            "model vs historical_quantiles: no significant difference from historical_quantiles "
            "(p=0.31); per step: h1 no significant difference from historical_quantiles (p=0.2)",
        ],
    }
    import json

    (folder / "report.json").write_text(json.dumps(report))
    return folder


def run_page(page: str = "Home.py") -> AppTest:
    """Run one page (or the whole app) and check that it raised nothing."""
    app = AppTest.from_file(str(APP / page), default_timeout=TIMEOUT).run()
    assert not app.exception, [element.value for element in app.exception]
    return app


def shown(markdown: str) -> str:
    """What a Markdown string the app escaped reads as on the page (backslash escapes removed)."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown)


def markdown_is_safe(app: AppTest) -> None:
    """No element of the page was allowed raw HTML."""
    for element in app.markdown:
        assert not element.proto.allow_html
    assert not app.get("html")


def copy_model(store: Store, destination: Path) -> Path:
    """A copy of the saved model file with its card, under ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / store.model_path.name
    shutil.copy(store.model_path, target)
    shutil.copy(store.model_path.with_suffix(".json"), target.with_suffix(".json"))
    return target


UNIVERSE_TICKERS = ["AEP", "D", "DUK", "MSFT", "ORCL"]  # stocknet: Utilities, Technology
SHORT_TICKER = "GMRE"  # stocknet data from 2016-06 only: too short for the walk-forward


@dataclass
class UniverseStore:
    """A tracking store holding a multi-ticker training run and universe backtest runs."""

    uri: str
    training_run: str
    forecasts: pd.DataFrame  # the training run's forecast/next_days.csv, as logged
    as_of: dict[str, str]  # each ticker's forecast origin, from the training outcome
    returns_backtest: str
    volatility_backtest: str
    returns_folder: Path  # the files save_universe wrote for each backtest run
    volatility_folder: Path
