"""Real-browser fixtures: a tiny model trained by ``fincast-train``, ``streamlit run`` on a free
loopback port, and Debian's Chromium driven by Playwright's sync API.

Every test here is marked ``browser``; they are skipped when Chromium or Playwright is
missing (``apt-get install chromium``; ``.ci/run`` installs it). Screenshots are kept
under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    EVIL,
    Deployment,
    free_port,
)

from fincast_cli import run_cli


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``browser`` and skip them without Chromium/Playwright."""
    here = Path(__file__).parent
    reason = None
    if not Path(CHROMIUM).is_file():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FINCAST_CHROMIUM)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install -e '.[dev]')"
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def _write_backtest(folder: Path) -> None:
    """A small saved walk-forward result in ``save_report``'s layout."""
    folder.mkdir(parents=True)
    (folder / "scores.csv").write_text(
        "forecaster,mae,cover_80,dm_p_all\nmodel,0.011,,\nnaive,0.0075,,0.0004\n"
        "historical_quantiles,0.0076,0.79,0.31\n"
    )
    (folder / "folds.csv").write_text("index,loss_model,loss_naive\n0,0.3,0.25\n1,0.2,0.22\n")
    (folder / "equity.csv").write_text(
        ",model,buy_and_hold\n2018-07-02,1.0,1.0\n2018-07-03,1.01,0.99\n"
    )
    report = {
        "ticker": "^GSPC",
        "task": "returns",
        "horizon": 5,
        "folds": 2,
        "verdicts": ["model vs naive: worse than naive (p=0.0004); per step: h1 worse (p=0.04)"],
    }
    (folder / "report.json").write_text(json.dumps(report))


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """``fincast-train`` (tiny settings) into a fresh store, a cache with an HTML-named ticker."""
    root = tmp_path_factory.mktemp("deployment")
    uri = f"sqlite:///{root}/mlflow.db"
    done = run_cli(
        "fincast-train",
        "backend=jax",
        "model.builder.units=8",
        "task.lookback=20",
        "training.epochs=1",
        "evaluation.test_days=60",
        "data.tickers=[^GSPC,^IXIC]",
        f"tracking.uri={uri}",
        f"paths.models={root / 'models'}",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from fincast.data.cache import write_bars
    from fincast.data.sources import load_sample

    write_bars(root / "cache", EVIL, load_sample(["^GSPC"])["^GSPC"], source="yfinance")
    _write_backtest(root / "outputs" / "2026-01-01" / "00-00-00" / "backtest" / "GSPC")
    return Deployment(root, uri, root / "cache", root / "outputs")


@pytest.fixture(scope="session")
def app_url(deployment: Deployment) -> Iterator[str]:
    """``streamlit run app/Home.py`` on 127.0.0.1 and a free port; stopped after the session."""
    from app_server import serve

    with serve(deployment, free_port(), "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, through Playwright."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # the first request of a session loads Keras and the model
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context (its own Streamlit session); a screenshot is kept after."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(120_000)
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.dialogs = dialogs  # type: ignore[attr-defined]
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"
