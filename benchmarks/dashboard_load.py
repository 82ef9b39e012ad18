"""Load check of the dashboard: concurrent browser sessions rerunning a forecast.

Starts ``streamlit run app/Home.py`` on a free loopback port over a tiny model that
``fincast-train`` trains in a temporary folder (or over ``--tracking-uri``/``--model-uri``
you give), opens ``--sessions`` Chromium pages on the Forecast page at once, and in each
switches the ticker back and forth ``--reruns`` times. A rerun's time runs from choosing the
ticker until the page shows the new forecast (chart title and legend updated). Prints
p50/p95 and writes ``benchmarks/results/dashboard_load.json``. Not a test: no timing is
asserted, but every session must finish every rerun.

    .venv/bin/python benchmarks/dashboard_load.py --sessions 10 --reruns 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TICKERS = ("^GSPC", "^IXIC")


def train_tiny_model(folder: Path) -> str:
    """Train the tiny LSTM into ``folder`` with fincast-train; return its tracking URI."""
    uri = f"sqlite:///{folder}/mlflow.db"
    command = [
        str(BIN / "fincast-train"),
        "backend=jax",
        "model.builder.units=8",
        "task.lookback=20",
        "training.epochs=1",
        "evaluation.test_days=60",
        "data.tickers=[^GSPC,^IXIC]",
        f"tracking.uri={uri}",
        f"paths.models={folder / 'models'}",
    ]
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True, timeout=900)
    return uri


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(tracking_uri: str, model_uri: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """``streamlit run`` on 127.0.0.1; returns the process once ``/_stcore/health`` says ok."""
    port = free_port()
    env = {
        **os.environ,
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"),
        "FINCAST_TRACKING_URI": tracking_uri,
        "FINCAST_MODEL_URI": model_uri,
        "FINCAST_CACHE_DIR": str(folder / "cache"),
        "FINCAST_MODELS_DIR": str(folder / "models"),
    }
    server = subprocess.Popen(
        [
            *(str(BIN / "streamlit"), "run", "app/Home.py", "--server.address", "127.0.0.1"),
            *("--server.port", str(port), "--server.headless", "true"),
        ],
        cwd=ROOT,
        env=env,
        stdout=(folder / "streamlit.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:  # noqa: S310
                if reply.read().strip() == b"ok":
                    return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise TimeoutError("streamlit did not start within 120 s")


async def session(browser, url: str, reruns: int) -> list[tuple[float, float]]:
    """One browser session: open the Forecast page, then switch tickers ``reruns`` times.

    Returns:
        Per rerun: seconds until the browser shows the new forecast, and the seconds the
        server spent computing the page (from the page's own timing line).
    """
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(300_000)  # ten sessions opening at once on two cores take a while
    title = page.locator("[data-testid='stPlotlyChart'] .gtitle").first
    legend = page.locator("[data-testid='stPlotlyChart'] .legendtext")
    timing = page.get_by_text("page computed in")
    await page.goto(url)
    await expect(title).to_contain_text(TICKERS[0], timeout=300_000)
    times = []
    for step in range(reruns):
        ticker = TICKERS[(step + 1) % 2]
        started = time.perf_counter()
        await page.get_by_role("combobox", name="Ticker").click()
        await page.get_by_role("option", name=ticker, exact=True).click()
        await expect(title).to_contain_text(ticker, timeout=120_000)
        await expect(legend).to_have_text([f"{ticker} price", "forecast"], timeout=120_000)
        browser_seconds = time.perf_counter() - started
        await expect(timing).to_contain_text(f"{ticker}: page computed in", timeout=120_000)
        server_ms = float(re.search(r"in (\d+) ms", await timing.inner_text()).group(1))
        times.append((browser_seconds, server_ms / 1000))
    await context.close()
    return times


Result = list[tuple[float, float]] | str


async def load(url: str, sessions: int, reruns: int, chromium: str) -> tuple[Result, list[Result]]:
    """One session alone (the baseline), then every session at once.

    A failed session gives its error text instead of its times.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        alone = await session(browser, url, reruns)  # also loads Keras and the model once
        results = await asyncio.gather(
            *(session(browser, url, reruns) for _ in range(sessions)), return_exceptions=True
        )
        await browser.close()
    return alone, [r if isinstance(r, list) else f"{type(r).__name__}: {r}" for r in results]


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (linear interpolation)."""
    return float(statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1])


def stats(browser_seconds: list[float], server_seconds: list[float]) -> dict[str, float | None]:
    """p50/p95/max of the rerun times seen in the browser, p50/p95 of the server's part."""
    if len(browser_seconds) < 2:
        return {}
    return {
        "rerun_seconds_p50": round(statistics.median(browser_seconds), 3),
        "rerun_seconds_p95": round(percentile(browser_seconds, 0.95), 3),
        "rerun_seconds_max": round(max(browser_seconds), 3),
        "server_seconds_p50": round(statistics.median(server_seconds), 3),
        "server_seconds_p95": round(percentile(server_seconds, 0.95), 3),
    }


def main() -> None:
    """Parse arguments, run the load check, print and save the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--tracking-uri", help="use this store instead of training a model")
    parser.add_argument("--model-uri", default="models:/fincast-returns-lstm@champion")
    parser.add_argument(
        "--chromium", default=os.environ.get("FINCAST_CHROMIUM", "/usr/bin/chromium")
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fincast-load-") as temporary:
        folder = Path(temporary)
        uri = arguments.tracking_uri or train_tiny_model(folder)
        server, url = start_server(uri, arguments.model_uri, folder)
        try:
            started = time.perf_counter()
            alone, results = asyncio.run(
                load(url, arguments.sessions, arguments.reruns, arguments.chromium)
            )
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    failures = [result for result in results if isinstance(result, str)]
    pairs = [pair for result in results if isinstance(result, list) for pair in result]
    summary = {
        "sessions": arguments.sessions,
        "reruns_per_session": arguments.reruns,
        "sessions_ok": arguments.sessions - len(failures),
        "reruns_ok": len(pairs),
        "failures": failures,
        "concurrent": stats([pair[0] for pair in pairs], [pair[1] for pair in pairs]),
        "one_session_alone": stats([pair[0] for pair in alone], [pair[1] for pair in alone]),
        "wall_seconds": round(wall, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; server and Chromium share the machine",
    }
    print(json.dumps(summary, indent=2))
    target = ROOT / "benchmarks" / "results" / "dashboard_load.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, indent=2) + "\n")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
