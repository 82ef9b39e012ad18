"""A model's input columns: its features, then covariates and identity columns.

:class:`FeatureRecipe` is the one place they are built: from a job when training and
backtesting (:func:`fincast.evaluation.series.feature_recipe`), and from the model card
when forecasting, scoring a hold-out and serving through MLflow, so a forecast sees the
columns the model was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fincast.data.calendars import calendar_for
from fincast.data.covariates import (
    FUTURE,
    PAST,
    check_covariates,
    check_embeddings,
    future_covariates,
    model_columns,
    past_covariates,
    universe_returns,
)
from fincast.data.features import make_features
from fincast.data.sources import MarketDataError
from fincast.data.universe import ticker_sectors


@dataclass(frozen=True)
class FeatureRecipe:
    """How a model's input columns are built: features, then covariates.

    ``universe`` is the tickers whose returns the past covariates average, and
    ``sectors`` their sectors; both are recorded on the model card, so a forecast
    rebuilds the same columns from the same universe.
    """

    names: list[str]
    price: str = "adj_close"
    covariates: list[str] = field(default_factory=list)
    horizon: int = 1
    universe: list[str] = field(default_factory=list)
    sectors: dict[str, str] = field(default_factory=dict)
    calendar: str | None = "XNYS"
    calendars: dict[str, str] = field(default_factory=dict)
    # identity columns (ticker, sector: for embeddings, per-ticker normalisation): ids
    # from 1 in sorted vocabularies
    identities: list[str] = field(default_factory=list)
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    # the tickers the model was fitted on (from the card); any other gets the unknown id 0
    trained: list[str] | None = None
    # where sectors of tickers outside ``sectors`` are looked up (the data source)
    source: str = ""

    def __post_init__(self) -> None:
        check_covariates(self.covariates)
        check_embeddings(self.identities)

    @property
    def columns(self) -> list[str]:
        """Every input column, in the model's order."""
        return model_columns(self.names, self.covariates, self.identities, self.horizon)

    def identity_of(self, ticker: str) -> dict[str, float]:
        """The identity columns of ``ticker``: 1-based ids, 0 where the model never saw it."""
        known = self.trained is None or ticker in self.trained
        keys = {"ticker": ticker if known else "", "sector": self._sector_of(ticker)}
        ids = {}
        for name in self.identities:
            vocabulary = self.vocabularies.get(name, [])
            key = keys[name]
            ids[f"{name}_id"] = float(vocabulary.index(key) + 1) if key in vocabulary else 0.0
        return ids

    @property
    def needs_universe(self) -> bool:
        """True when a ticker's inputs depend on other tickers' bars."""
        return any(name in PAST for name in self.covariates)

    def _sector_of(self, ticker: str) -> str:
        if ticker in self.sectors or not self.source:
            return self.sectors.get(ticker, "")
        return ticker_sectors(self.source, [ticker])[ticker]

    def card(self) -> dict[str, Any]:
        """The entries a model card records to rebuild these columns."""
        return {
            "covariates": list(self.covariates),
            "input_columns": self.columns,
            "covariate_universe": list(self.universe) if self.needs_universe else [],
            "sectors": dict(self.sectors),
            "identities": list(self.identities),
            "vocabularies": {name: list(self.vocabularies[name]) for name in self.identities},
        }

    @classmethod
    def of_card(cls, card: Mapping[str, Any]) -> FeatureRecipe:
        """The recipe a model card records (cards without covariates: features only)."""
        return cls(
            names=list(card["features"]),
            price=str(card.get("price", "adj_close")),
            covariates=list(card.get("covariates") or []),
            horizon=int(card.get("horizon", 1)),
            universe=list(card.get("covariate_universe") or []),
            sectors=dict(card.get("sectors") or {}),
            calendar=card.get("calendar", "XNYS"),
            calendars=dict(card.get("calendars") or {}),
            identities=list(card.get("identities") or []),
            trained=list(card.get("tickers") or []) or None,
            source=str(card.get("data_source", "")),
            vocabularies=dict(card.get("vocabularies") or {}),
        )

    def frames(
        self, bars: Mapping[str, pd.DataFrame], tickers: Sequence[str] | None = None
    ) -> dict[str, pd.DataFrame]:
        """Input columns of each of ``tickers`` (default: every ticker of ``bars``).

        Raises:
            MarketDataError: past covariates whose universe's bars are not all in ``bars``.
        """
        wanted = list(bars) if tickers is None else list(tickers)
        returns = self._returns(bars)
        frames = {}
        for ticker in wanted:
            features = make_features(bars[ticker], self.names, price=self.price)
            if self.covariates:
                features = self._with_covariates(features, ticker, returns)
            if self.identities:
                features = features.assign(**self.identity_of(ticker)).astype("float32")
            frames[ticker] = features
        return frames

    def _returns(self, bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
        if not self.needs_universe:
            return None
        missing = [ticker for ticker in self.universe if ticker not in bars]
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            past = ", ".join(name for name in self.covariates if name in PAST)
            raise MarketDataError(
                f"The model's past covariates ({past}) "
                f"average {len(self.universe)} tickers, and the bars of {shown} are missing; "
                "load the model's whole universe (its card's covariate_universe)."
            )
        return universe_returns({ticker: bars[ticker] for ticker in self.universe}, self.price)

    def _with_covariates(
        self, features: pd.DataFrame, ticker: str, returns: pd.DataFrame | None
    ) -> pd.DataFrame:
        parts = [features]
        if returns is not None:
            sectors = {**self.sectors, ticker: self._sector_of(ticker)}
            past = past_covariates(returns, ticker, self.covariates, sectors)
            parts.append(past.reindex(features.index))
        future = [name for name in self.covariates if name in FUTURE]
        if future:
            calendar = calendar_for(ticker, self.calendar, self.calendars)
            index = pd.DatetimeIndex(features.index)
            parts.append(future_covariates(index, future, self.horizon, calendar))
        combined = pd.concat(parts, axis=1)
        combined = combined[[column for column in self.columns if column in combined]]
        return combined.dropna().astype("float32")
