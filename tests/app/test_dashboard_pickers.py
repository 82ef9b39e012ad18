"""The model picker's alias resolution and the Forecast page's ticker choices and warnings."""

from __future__ import annotations

from datetime import date

import pandas as pd

from fincast.dashboard.content import TickerChoice
from fincast.dashboard.forecast_inputs import (
    forecast_choices,
    staleness_warning,
    untrained_warning,
)
from fincast.dashboard.model_choices import registry_choices
from fincast.dashboard.ui import resolved_uri
from fincast.data.sources import load_sample

VERSIONS = pd.DataFrame(
    {
        "name": ["fincast-returns-mlp"] * 3,
        "version": [1, 2, 3],
        "aliases": [[], [], ["champion"]],
    }
)


def test_an_alias_resolves_from_the_table_the_label_came_from() -> None:
    """The label and the loaded version come from one table, so they always agree."""
    label = next(c.label for c in registry_choices(VERSIONS) if c.uri.endswith("@champion"))
    assert label == "fincast-returns-mlp @champion (version 3)"
    # the store is never asked (its URI does not even exist) when the table answers
    uri = resolved_uri(
        "models:/fincast-returns-mlp@champion", "sqlite:////nonexistent.db", VERSIONS
    )
    assert uri == "models:/fincast-returns-mlp/3"
    assert (
        resolved_uri("models:/fincast-returns-mlp/1", "x", VERSIONS)
        == "models:/fincast-returns-mlp/1"
    )


def test_every_bundled_and_cached_ticker_is_offered_once() -> None:
    card = {"data_source": "sample", "tickers": ["^GSPC"]}
    choices = forecast_choices(card, ["AAPL", "^GSPC"], ["^GSPC", "^IXIC"])
    assert choices == [
        TickerChoice("^GSPC", "sample", {}),
        TickerChoice("AAPL", "yfinance", {"refresh": "never"}),
        TickerChoice("^IXIC", "sample", {}),
    ]


def test_the_bundled_data_is_stale_in_exchange_sessions() -> None:
    bars = load_sample(["^GSPC"])["^GSPC"]
    card = {"tickers": ["^GSPC"], "calendar": "XNYS"}
    # 2019-01-02 .. 2019-01-09 are 6 NYSE sessions (none on 1 Jan)
    assert staleness_warning(bars, "^GSPC", card, today=date(2019, 1, 9)) is None
    message = staleness_warning(bars, "^GSPC", card, today=date(2019, 1, 10))
    assert message is not None and "6 trading sessions (10 calendar days)" in message
    assert "ends on 2018-12-31" in message
    assert untrained_warning(card, "^GSPC") is None
    assert "not trained on ^IXIC" in str(untrained_warning(card, "^IXIC"))
