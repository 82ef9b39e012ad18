"""The Universe page: a real training run's forecasts ranked, and universe backtest scores.

The store holds a real tiny training run over five stocknet tickers of two sectors
(recorded by ``record_training``, so its ``forecast/next_days.csv`` is the real one)
and a returns and a volatility backtest run holding ``backtest/universe/`` files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dashboard_helpers import (
    APP,
    TIMEOUT,
    Store,
    UniverseStore,
    markdown_is_safe,
    run_page,
    shown,
)
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from fincast.evaluation.stats import format_p
from fincast.evaluation.universe import load_universe

PAGE = "views/universe.py"
TASK = "fincast.task"


def rendered(table) -> pd.DataFrame:
    """The text a dataframe element renders (its Styler's display values)."""
    data = table.proto.arrow_data.styler.display_values
    assert data, "the table was not shown through a Styler"
    return dataframe_util.convert_arrow_bytes_to_pandas_df(data)


def headers(table) -> dict[str, str]:
    """The column headers the element shows (column_config labels; else the name)."""
    config = json.loads(table.proto.columns or "{}")
    return {str(name): config.get(str(name), {}).get("label", str(name)) for name in table.value}


def table_with(app, column: str):
    return next(table for table in app.dataframe if column in table.value.columns)


def chart_titles(app) -> list[str]:
    return [
        json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")
    ]


def sector_box(app, prefix: str):
    return next(box for box in app.multiselect if str(box.key).startswith(prefix))


def test_no_store_says_which_commands_make_the_data(env: Path) -> None:
    app = run_page(PAGE)

    message = " ".join(shown(info.value) for info in app.info)
    assert "fincast-train data=stocknet data.tickers=sector:Technology" in message
    assert (
        "fincast-backtest data=stocknet data.tickers=sector:Technology evaluation=walkforward"
        in message
    )
    assert not app.error and not app.dataframe and not app.get("plotly_chart")


def test_forecasts_are_ranked_by_their_sum_over_the_horizon(
    universe_served: UniverseStore,
) -> None:
    app = run_page(PAGE)

    table = table_with(app, "forecast").value
    logged = universe_served.forecasts
    sums = logged.groupby("ticker")["log_return"].sum().sort_values(ascending=False)
    assert list(table["ticker"]) == list(sums.index)
    assert table["forecast"].to_numpy() == pytest.approx(sums.to_numpy())
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    assert dict(zip(table["ticker"], table["as_of"], strict=True)) == universe_served.as_of
    assert set(table["sector"]) == {"Utilities", "Technology"}
    last = logged.groupby("ticker")["date"].last()
    assert dict(zip(table["ticker"], table["through"], strict=True)) == last.to_dict()
    element = table_with(app, "forecast")
    assert headers(element)["forecast"] == "3-day log return (%)"
    assert all(text.endswith("%") for text in rendered(element)["forecast"])
    markdown_is_safe(app)


def test_sector_filters_change_the_rows(universe_served: UniverseStore) -> None:
    app = run_page(PAGE)

    sector_box(app, "fincast.universe.forecast_sectors").set_value(["Utilities"]).run()
    assert not app.exception
    table = table_with(app, "forecast").value
    assert list(table["ticker"]) == [t for t in table["ticker"] if t in {"AEP", "D", "DUK"}]
    assert sorted(table["ticker"]) == ["AEP", "D", "DUK"]
    assert list(table["rank"]) == sorted(table["rank"])  # ranks in the whole universe kept

    sector_box(app, "fincast.universe.ticker_sectors").set_value(["Technology"]).run()
    scores = table_with(app, "verdict").value
    assert sorted(scores["ticker"]) == ["MSFT", "ORCL"]
    assert sorted(table_with(app, "forecast").value["ticker"]) == ["AEP", "D", "DUK"]


def test_per_ticker_scores_verdicts_and_short_p_values(universe_served: UniverseStore) -> None:
    app = run_page(PAGE)

    saved = load_universe(universe_served.returns_folder)
    element = table_with(app, "verdict")
    table = element.value.set_index("ticker")
    pd.testing.assert_series_equal(table["dm_p"], saved.per_ticker["dm_p"], check_names=False)
    assert list(table["verdict"]) == list(saved.per_ticker["verdict"])
    assert list(table["sector"]) == list(saved.per_ticker["sector"])
    text = rendered(element)
    for column in ("dm_p", "p_bh", "p_holm"):
        assert list(text[column]) == [format_p(p) for p in saved.per_ticker[column]]
        assert all(len(value) <= 10 for value in text[column]), list(text[column])
    assert headers(element)["loss_ratio"] == "loss / naive's (ratio)"
    lines = [shown(md.value) for md in app.markdown]
    assert saved.summary["dm"]["sentence"] in lines
    left = table_with(app, "reason").value
    assert list(left["ticker"]) == ["GMRE"]
    assert left["reason"].iloc[0] == saved.summary["left_out"]["GMRE"]
    assert "fewer than min_train_windows=250" in left["reason"].iloc[0]
    markdown_is_safe(app)


def test_ic_metrics_and_the_charts(universe_served: UniverseStore) -> None:
    app = run_page(PAGE)

    assert chart_titles(app) == [
        "Information coefficient per date",
        "Quantile portfolios (growth of 1; q1 = lowest forecasts)",
    ]
    saved = load_universe(universe_served.returns_folder)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert float(metrics["mean IC"]) == pytest.approx(saved.summary["ic"]["mean"], rel=1e-2)
    assert float(metrics["rank IC t (non-overlapping)"]) == pytest.approx(
        saved.summary["rank_ic"]["t_stat_non_overlapping"], rel=1e-2
    )
    ic_chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert [trace["name"] for trace in ic_chart["data"]] == ["IC (Pearson)", "rank IC (Spearman)"]
    equity = json.loads(app.get("plotly_chart")[1].proto.spec)
    assert [trace["name"] for trace in equity["data"]] == [
        "q1",
        "q2",
        "long-short",
        "long-short, after costs",
    ]
    book = rendered(table_with(app, "sharpe"))
    assert book["annual_return"].iloc[0].endswith("%")


def test_volatility_universe_says_it_has_no_ic_or_portfolios(
    universe_served: UniverseStore,
) -> None:
    app = AppTest.from_file(str(APP / PAGE), default_timeout=TIMEOUT)
    app.session_state[TASK] = "volatility"
    app.run()
    assert not app.exception, [element.value for element in app.exception]

    notes = " ".join(shown(info.value) for info in app.info)
    assert "No information coefficient for the volatility task" in notes
    assert "No quantile portfolios for the volatility task" in notes
    assert "No training run of the volatility task" in notes
    assert not app.get("plotly_chart")
    scores = table_with(app, "verdict").value
    assert len(scores) == 5
    box = next(box for box in app.selectbox if box.label == "Universe backtest")
    assert box.value == universe_served.volatility_backtest


def test_ranking_uses_the_tasks_horizon_value_and_a_logged_as_of() -> None:
    from fincast.dashboard.universes import ranked_forecasts

    next_days = pd.DataFrame(
        {
            "step": [1, 2, 1, 2],
            "date": ["2019-01-02", "2019-01-03"] * 2,
            "realised_vol": [0.30, 0.10, 0.15, 0.20],
            "ticker": ["A", "A", "B", "B"],
            "as_of": ["2018-12-28"] * 2 + ["2018-12-31"] * 2,
        }
    )
    table = ranked_forecasts(
        next_days, task="volatility", sectors={"A": "Utilities"}, target="realised_vol"
    )
    # volatility: the last day's forecast (a sum of volatilities means nothing)
    assert table[["ticker", "forecast"]].values.tolist() == [["B", 0.20], ["A", 0.10]]
    assert list(table["as_of"]) == ["2018-12-31", "2018-12-28"]  # the file's, when it has one
    assert list(table["sector"]) == ["unknown", "Utilities"]
    returns = ranked_forecasts(
        next_days.drop(columns="as_of").rename(columns={"realised_vol": "log_return"}),
        task="returns",
        sectors={},
    )
    assert returns["forecast"].tolist() == pytest.approx([0.40, 0.35])
    assert list(returns["as_of"]) == ["2018-12-31"] * 2  # the XNYS session before 2019-01-02


def test_a_store_without_universe_backtests_ranks_its_forecasts_and_says_how(
    served: Store,
) -> None:
    app = run_page(PAGE)  # one training run of two indices, a one-ticker backtest

    table = table_with(app, "forecast").value
    assert sorted(table["ticker"]) == ["^GSPC", "^IXIC"]
    assert set(table["sector"]) == {"unknown"}
    notes = " ".join(shown(info.value) for info in app.info)
    assert "No walk-forward backtest of the returns task over several tickers" in notes
    assert "evaluation=walkforward" in notes
    assert not app.get("plotly_chart")
