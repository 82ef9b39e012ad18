"""Every page in a real browser over a store of several models and backtests, as a user sees it.

The store is made by the real CLIs on tiny settings: a point LSTM, a quantile CNN (both
returns), a volatility MLP, and walk-forward backtests of the LSTM (returns) and of the
MLP (volatility). ``streamlit run`` serves the app over it; Chromium walks Forecast,
Backtest, Universe, Runs and Data, keeps a screenshot of each under ``test-artifacts/browser/``,
and checks the rendered text: p-values are short, returns are percentages, and the
Backtest, Universe and Runs pages follow the sidebar's task and model. The store's runs
are of one ticker, so the Universe page ranks that ticker's forecast and says which
command makes a universe backtest.

Dataframe cells are drawn on a canvas; their text is not in the page, so the checks read
the headers (from the grid's accessible table), metrics, verdicts and captions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from app_server import serve
from browser_helpers import ARTIFACTS, Deployment, free_port

from fincast_cli import run_cli

TINY = ["backend=jax", "data.tickers=[^GSPC]", "training.epochs=1", "evaluation.test_days=60"]
TRAININGS = {
    "point": ["task.lookback=20", "model=lstm", "model.builder.units=8"],
    "quantile": ["task.lookback=20", "model=cnn", "task.quantiles=[0.1,0.5,0.9]"],
    "volatility": ["task=volatility", "task.lookback=20", "model=mlp"],
}
BACKTESTS = {
    "returns": ["task.lookback=20", "model=lstm", "model.builder.units=8"],
    "volatility": ["task=volatility", "task.lookback=20", "model=mlp"],
}
WALKFORWARD = ["evaluation=walkforward", "evaluation.folds=2"]
P_VALUE = re.compile(r"\bp\s*=\s*(<?\s*[-+0-9.e]+)")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Three models and two backtests, made by ``fincast-train`` and ``fincast-backtest``."""
    root = tmp_path_factory.mktemp("walk")
    uri = f"sqlite:///{root}/mlflow.db"
    where = [f"tracking.uri={uri}", f"paths.models={root / 'models'}"]
    for command, runs, extra in (
        ("fincast-train", TRAININGS, []),
        ("fincast-backtest", BACKTESTS, WALKFORWARD),
    ):
        for name, overrides in runs.items():
            done = run_cli(command, *TINY, *where, *overrides, *extra, cwd=root, timeout=900)
            assert done.returncode == 0, f"{command} {name}: {done.stderr[-3000:]}"
    (root / "cache").mkdir()
    return Deployment(root, uri, root / "cache", root / "outputs")


@pytest.fixture(scope="module")
def walk_url(store: Deployment) -> Iterator[str]:
    """``streamlit run app/Home.py`` over the store, on a free loopback port."""
    with serve(store, free_port()) as url:
        yield url


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"walk-{name}.png"), full_page=True)


def main_text(page) -> str:
    return str(page.get_by_test_id("stMain").inner_text())


def check_p_values(text: str) -> list[str]:
    """Every ``p=...`` in ``text`` is at most 10 characters; the p-values found."""
    found = [match.strip() for match in P_VALUE.findall(text)]
    assert all(len(value) <= 10 for value in found), [v for v in found if len(v) > 10]
    return found


def headers(page) -> list[list[str]]:
    """The column headers of every dataframe on the page (from the grid's accessible table)."""
    grids = page.get_by_test_id("stDataFrame")
    grids.first.locator("th").first.wait_for(state="attached")
    return [
        [str(text).strip() for text in grids.nth(index).locator("th").all_text_contents()]
        for index in range(grids.count())
    ]


def grid_cells(page) -> list[str]:
    """The cell texts of the page's first dataframe (raw values: the grid's accessible table)."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.locator("td").first.wait_for(state="attached")
    return [str(text).strip() for text in grid.locator("td").all_text_contents()]


def choose_sidebar(page, label: str, option: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def no_exceptions(page) -> None:
    assert page.get_by_test_id("stException").count() == 0


def scroll_to_bottom(page) -> None:
    page.get_by_test_id("stMain").evaluate("main => main.scrollTo(0, main.scrollHeight)")
    page.wait_for_timeout(500)


def test_walk_every_page(page, walk_url: str) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 4000})  # whole pages in each screenshot
    # Forecast: the LSTM's returns as prices, the change in percent
    page.goto(walk_url)
    page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for()
    change = page.get_by_test_id("stMetricDelta").first
    expect(change).to_have_text(re.compile(r"^[+\-\u2212]?\d+\.\d{2}%$"))
    no_exceptions(page)
    check_p_values(main_text(page))
    shot(page, "forecast")

    # Backtest: the returns backtest of the LSTM, not the newer volatility one
    page.goto(f"{walk_url}/backtest")
    page.get_by_text("Hold-out scores from the model card").wait_for()
    expect(page.get_by_text(re.compile(r"returns task, 5-day horizon, 2 folds"))).to_be_visible()
    backtest = page.get_by_role("combobox", name="Backtest")
    expect(backtest).to_have_value(re.compile(r"^lstm · returns · .* UTC · 2 folds · \^GSPC$"))
    assert "volatility task" not in main_text(page)
    scroll_to_bottom(page)
    text = main_text(page)
    assert len(check_p_values(text)) >= 5  # the verdicts' and per-step p-values
    returns_headers = [name for table in headers(page) for name in table]
    assert any("(%)" in name and "MAE" in name for name in returns_headers), returns_headers
    assert any("annual return (%)" in name for name in returns_headers), returns_headers
    fold_chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Loss per fold")
    ticks = fold_chart.locator(".xtick text").all_text_contents()
    assert ticks and all(re.fullmatch(r"\d+", tick) for tick in ticks), ticks
    no_exceptions(page)
    shot(page, "backtest-returns")

    # Backtest, volatility chosen in the sidebar: the MLP's volatility backtest
    choose_sidebar(page, "Task", "volatility")
    expect(page.get_by_text(re.compile(r"volatility task, 5-day horizon, 2 folds"))).to_be_visible()
    expect(backtest).to_have_value(re.compile(r"^mlp · volatility · .* 2 folds"))
    assert "returns task" not in main_text(page)
    check_p_values(main_text(page))
    no_exceptions(page)
    shot(page, "backtest-volatility")

    # Universe: the sidebar's task (still volatility): the volatility MLP's forecast ranked,
    # and the command that makes a universe backtest (these backtests are of one ticker)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Universe").click()
    expect(page.locator("h1").first).to_have_text("Universe")
    page.get_by_text("Latest forecasts, ranked").wait_for()
    expect(
        page.get_by_text(
            re.compile(r"data.tickers=sector:Technology evaluation=walkforward task=volatility")
        )
    ).to_be_visible()
    ranked = headers(page)[0]
    assert "realised volatility over 5 days (annualised) (%)" in ranked, ranked
    assert "as of (last data day)" in ranked and "sector" in ranked, ranked
    assert "^GSPC" in grid_cells(page)
    no_exceptions(page)
    check_p_values(main_text(page))
    shot(page, "universe-volatility")

    # Runs: the sidebar's task (still volatility), its training runs first
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs").click()
    expect(page.locator("h1").first).to_have_text("Runs")
    expect(page.get_by_test_id("stDataFrame").first.locator("th").first).to_have_text("run")
    first = headers(page)[0]
    assert first[:4] == ["run", "task", "model", "backend"], first
    assert first[4].startswith("key score") and first[5] == "MLflow UI", first
    cells = grid_cells(page)
    assert "volatility" in cells and "returns" not in cells, cells
    assert "auto" not in cells  # the backend that ran
    no_exceptions(page)
    shot(page, "runs-volatility")

    choose_sidebar(page, "Task", "returns")
    expect(page.get_by_text(re.compile(r"Training runs of the returns task"))).to_be_visible()
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid.locator("td").filter(has_text=re.compile(r"^returns$")).first).to_be_attached()
    cells = grid_cells(page)
    assert "returns" in cells and "volatility" not in cells, cells
    shot(page, "runs-returns")

    # Data: the bundled series
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Data").click()
    expect(page.locator("h1").first).to_have_text("Data")
    page.get_by_test_id("stDataFrame").first.wait_for()
    no_exceptions(page)
    check_p_values(main_text(page))
    shot(page, "data")
