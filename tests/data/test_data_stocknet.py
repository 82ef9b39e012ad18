"""The bundled 88-stock panel (data=stocknet), and data.tickers=all / sector:<name>.

``all`` is checked for every source that holds several tickers: the panel, a user
CSV or Parquet file with a ticker column, and the yfinance cache. The data checks run
on all 88 stocks of the raw Yahoo download and report its quirks.
"""

from __future__ import annotations

import doctest
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from fincast.cli.common import job_spec
from fincast.cli.schema import register_schemas
from fincast.data import cache, universe
from fincast.data.loading import checks_summary, load_bars, load_checked_bars
from fincast.data.report import reports_frame
from fincast.data.sources import PRICE_COLUMNS, MarketDataError, stocknet_table
from fincast.data.universe import select_tickers
from fincast.paths import config_dir, stocknet_data_dir
from fincast.specs import DataSpec

REPOSITORY = Path(__file__).resolve().parents[2]
TECHNOLOGY = ["CHL", "CSCO", "FB", "GOOG", "INTC", "MSFT", "ORCL", "T", "TSM", "VZ"]
SECTORS = (
    "Basic Materials, Conglomerates, Consumer Goods, Financial, Healthcare, "
    "Industrial Goods, Services, Technology, Utilities"
)


@pytest.fixture(scope="module")
def panel() -> dict[str, pd.DataFrame]:
    """All 88 stocks, unchecked."""
    return load_bars("stocknet", ["all"], strict=False)


def test_doctests_pass() -> None:
    assert doctest.testmod(universe).failed == 0


def test_the_panel_is_bundled_with_its_licence_and_packaged_in_the_wheel() -> None:
    folder = stocknet_data_dir()
    assert {"prices.csv.gz", "tickers.csv", "LICENSE", "README.md"} <= {
        path.name for path in folder.iterdir()
    }
    assert "MIT License" in (folder / "LICENSE").read_text()
    settings = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    packaged = settings["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert packaged["data/stocknet"] == "fincast/stocknet_data"


def test_all_88_stocks_load_with_their_sectors(panel) -> None:
    table = stocknet_table()
    assert len(table) == 88 and sorted(panel) == sorted(table.index)
    assert table["sector"].value_counts().to_dict() == {
        **dict.fromkeys(SECTORS.replace("Conglomerates, ", "").split(", "), 10),
        "Conglomerates": 8,
    }
    assert sum(map(len, panel.values())) == 108_592
    for bars in panel.values():
        assert list(bars.columns) == list(PRICE_COLUMNS)
        assert bars.index.is_monotonic_increasing and bars.index.name == "date"
        assert bars.index[-1] == pd.Timestamp("2017-09-01")
        assert all(dtype == np.float64 for dtype in bars.dtypes)
    assert panel["AAPL"].index[0] == pd.Timestamp("2012-09-04")
    assert len(panel["GMRE"]) == 297  # listed 2016-06-30: the shortest history


@pytest.mark.parametrize(
    "tickers",
    ["sector:Technology", ["sector:technology"], "Sector:TECHNOLOGY", ["sector:Technology", "T"]],
)
def test_a_sector_is_its_stocks(tickers) -> None:
    assert DataSpec(source="stocknet", tickers=tickers).tickers == TECHNOLOGY


def test_sectors_mix_with_names_in_order_without_repeats() -> None:
    tickers = select_tickers("stocknet", ["XOM", "sector:basic_materials", "AAPL"])
    assert tickers[0] == "XOM" and tickers[-1] == "AAPL" and len(tickers) == 11
    assert len(set(tickers)) == len(tickers)


def test_all_of_the_bundled_sources() -> None:
    assert len(DataSpec(source="stocknet", tickers="all").tickers) == 88
    assert DataSpec(source="sample", tickers=["all"]).tickers == ["^GSPC", "^IXIC"]


def write_panel_file(tmp_path: Path, make_bars, suffix: str) -> Path:
    frames = [
        make_bars(8, seed=seed).reset_index().assign(Symbol=name)
        for seed, name in enumerate(["ZZZ", "AAA", "BRK-A"])
    ]
    table = pd.concat(frames, ignore_index=True)
    path = tmp_path / f"prices{suffix}"
    if suffix == ".parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_all_of_a_user_file_with_a_ticker_column(tmp_path, make_bars, suffix) -> None:
    path = write_panel_file(tmp_path, make_bars, suffix)
    data = DataSpec(
        source=suffix.lstrip("."),
        tickers="all",
        options={"path": str(path), "ticker_column": "symbol"},  # matched ignoring case
        calendar=None,
    )
    assert data.tickers == ["AAA", "BRK-A", "ZZZ"]
    bars, reports = load_checked_bars(data)
    assert list(bars) == data.tickers and all(len(frame) == 8 for frame in bars.values())
    assert [report.ticker for report in reports] == data.tickers


def test_all_of_a_user_file_without_a_ticker_column_is_its_one_series(tmp_path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-02,10,12,9,11,1000\n")
    data = DataSpec(source="csv", tickers="all", options={"path": str(path)})
    assert data.tickers == ["mine"]


def test_all_of_the_cache(tmp_path, make_bars) -> None:
    for seed, ticker in enumerate(["^GSPC", "AAPL"]):
        cache.write_bars(tmp_path, ticker, make_bars(6, seed=seed), source="yfinance")
    data = DataSpec(
        source="yfinance", tickers="all", cache_dir=str(tmp_path), refresh="never", calendar=None
    )
    assert data.tickers == ["AAPL", "^GSPC"]
    bars, _ = load_checked_bars(data)  # refresh=never: served from the cache, no download
    pd.testing.assert_frame_equal(bars["AAPL"], make_bars(6, seed=1), check_freq=False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"source": "stocknet", "tickers": ["AAPL", "FOO"]},
            f"data.tickers: Ticker(s) 'FOO' are not in the bundled stocknet panel; name its "
            f"tickers (data/stocknet/tickers.csv), data.tickers=all, or a sector: "
            f"data.tickers=sector:<name> with one of {SECTORS}.",
        ),
        (
            {"source": "stocknet", "tickers": ["msft"]},
            "'msft' are not in the bundled stocknet panel (did you mean MSFT?)",
        ),
        (
            {"source": "stocknet", "tickers": "sector:Tech"},
            f"data.tickers: Unknown sector 'Tech'; the stocknet panel's sectors are {SECTORS} "
            "(e.g. data.tickers=sector:Technology).",
        ),
        (
            {"source": "sample", "tickers": "sector:Technology"},
            "sectors are known only for the bundled panel (data=stocknet), not for data=sample",
        ),
        (
            {"source": "yfinance", "tickers": "all", "cache_dir": "no-such-cache"},
            "data.tickers: 'all' found no tickers in the cache 'no-such-cache'; fetch some first",
        ),
        (
            {"source": "csv", "tickers": "all", "options": {"path": "x.csv", "ticker_column": "t"}},
            "Data file 'x.csv' does not exist; set data.options.path.",
        ),
    ],
)
def test_unknown_tickers_and_sectors_fail_with_one_line(data, message) -> None:
    with pytest.raises(ValueError) as raised:
        DataSpec(**data)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_the_data_checks_report_on_every_stock_of_the_panel() -> None:
    data = DataSpec(source="stocknet", tickers="all", on_invalid="warn")
    bars, reports = load_checked_bars(data)
    table = reports_frame(reports)
    assert table["ticker"].nunique() == 88
    failed = table[(table["count"] > 0) & (table["severity"] != "note")]
    found = failed.groupby("check")["ticker"].apply(sorted).to_dict()
    assert found == {
        "missing_price": ["PTR", "REX", "SNP"],
        "missing_volume": ["PTR", "REX", "SNP"],
        "suspicious_jump": ["AGFS"],
    }
    assert set(table.loc[table["check"] == "stale_open", "count"].gt(0)) == {True}
    assert "88 tickers (policy warn): suspicious_jump 1 day(s) on 1 ticker(s) (AGFS)" in (
        checks_summary(reports)
    )
    assert bars["PTR"].loc["2016-06-29"].isna().all()  # warn: used as it is

    with pytest.raises(MarketDataError, match=r"^PTR: missing price on 1 day\(s\), first on 2016"):
        load_checked_bars(DataSpec(source="stocknet", tickers="sector:Basic Materials"))


def test_the_stocknet_config_repairs_the_empty_rows() -> None:
    register_schemas()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        default = job_spec(compose(config_name="config", overrides=["data=stocknet"]), "test")
        every = compose(config_name="config", overrides=["data=stocknet", "data.tickers=all"])
    assert default.data.tickers == TECHNOLOGY and default.data.on_invalid == "repair"
    data = job_spec(every, "test").data
    bars, reports = load_checked_bars(data)
    assert len(bars) == 88
    repaired = {report.ticker: report.repairs.get("missing_price") for report in reports}
    assert {ticker for ticker, count in repaired.items() if count} == {"PTR", "REX", "SNP"}
    assert pd.Timestamp("2016-06-29") not in bars["PTR"].index
    assert len(bars["PTR"]) == 1257 and not bars["PTR"].isna().any().any()
