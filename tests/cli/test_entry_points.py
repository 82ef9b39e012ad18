"""Entry points: importing them never imports keras (the backend is chosen first)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fincast.cli.common import quote_index_symbols


@pytest.mark.parametrize("module", ["train", "forecast", "backtest", "fetch"])
def test_cli_modules_do_not_import_keras(module):
    code = f"import sys, fincast.cli.{module}; print('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["data.tickers=[^GSPC]"], ["data.tickers=['^GSPC']"]),
        (["data.tickers=[^GSPC,AAPL]"], ["data.tickers=['^GSPC',AAPL]"]),
        (["data.tickers=['^GSPC']"], ["data.tickers=['^GSPC']"]),
        (["-m", "data.tickers=[^GSPC],[^IXIC]"], ["-m", "data.tickers=['^GSPC'],['^IXIC']"]),
        (["training.epochs=2", "--cfg", "job"], ["training.epochs=2", "--cfg", "job"]),
    ],
)
def test_index_symbols_are_quoted_for_hydra(arguments, expected):
    assert quote_index_symbols(arguments) == expected
