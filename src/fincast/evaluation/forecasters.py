"""Everything a walk-forward backtest scores, behind one interface: ``forecast(fold) -> array``.

A forecaster fits on ``fold.train`` / ``fold.history()`` and returns forecasts for
``fold.test``: ``(n, horizon)`` points, or ``(n, horizon, q)`` quantiles at given
levels. The Keras model (:class:`ModelForecaster`) and every baseline share it.

This module never imports Keras at import time: worker processes set the backend first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fincast.data.windows import Windows, split_at
from fincast.evaluation import baselines, volatility
from fincast.evaluation.folds import Fold

ForecastFunction = Callable[[Fold], np.ndarray]
MODEL = "model"


@dataclass(frozen=True)
class Candidate:
    """A named forecaster; ``levels`` are its quantile levels when it forecasts quantiles."""

    name: str
    forecast: ForecastFunction
    levels: tuple[float, ...] | None = None


def point_forecast(forecast: np.ndarray, levels: Sequence[float] | None = None) -> np.ndarray:
    """The point forecast of a forecast array: itself, or the median of quantile forecasts.

    >>> point_forecast(np.array([[[1.0, 2.0, 4.0]]]), levels=[0.1, 0.5, 0.9]).tolist()
    [[2.0]]
    """
    if forecast.ndim == 2:
        return forecast
    if levels is not None and 0.5 in levels:
        return forecast[..., list(levels).index(0.5)]
    return np.asarray(forecast.mean(axis=-1))


def baseline_candidates(task: str, names: Sequence[str] | None = None) -> list[Candidate]:
    """The task's baselines (all of them, or those named), in a stable order.

    Raises:
        ValueError: an unknown task or baseline name, listing the known ones.
    """
    known = _BASELINES.get(task)
    if known is None:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(_BASELINES)}.")
    chosen = list(known) if names is None else list(names)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ValueError(
            f"Unknown {task} baseline(s) {', '.join(unknown)}; available: {', '.join(known)}."
        )
    return [known[name] for name in chosen]


_BASELINES: dict[str, dict[str, Candidate]] = {
    "returns": {
        "naive": Candidate("naive", baselines.naive),
        "historical_mean": Candidate("historical_mean", baselines.historical_mean),
        "drift": Candidate("drift", baselines.drift),
        "ar5": Candidate("ar5", functools.partial(baselines.autoregressive, order=5)),
        "historical_quantiles": Candidate(
            "historical_quantiles", baselines.historical_quantiles, baselines.QUANTILE_LEVELS
        ),
    },
    "volatility": {
        "naive": Candidate("naive", volatility.persistence),
        "ewma": Candidate("ewma", volatility.ewma),
        "garch": Candidate("garch", volatility.garch),
        "har": Candidate("har", volatility.har),
    },
}


def validation_split(train: Windows, fraction: float, embargo: int) -> tuple[Windows, Windows]:
    """The latest ``fraction`` of the training windows for early stopping, purged and embargoed."""
    if fraction <= 0 or len(train) < 4:
        return train, train.select(np.zeros(len(train), dtype=bool))
    start = train.first_target[int(len(train) * (1 - fraction))]
    return split_at(train, start, embargo=embargo)


@dataclass
class ModelForecaster:
    """The Keras model, refitted (scaling included) on each refit fold's training windows.

    Folds with ``refit=False`` reuse the model fitted on the previous fold. With
    ``quantiles`` the builder makes a quantile model, trained with the pinball loss,
    whose forecasts are ``(n, horizon, len(quantiles))``.
    """

    build_model: Callable[..., Any]
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    jit_compile: bool | str = "auto"
    validation_fraction: float = 0.15
    seed: int = 42
    verbose: int | str = 0
    quantiles: tuple[float, ...] | None = None
    target_feature: int = 0
    model: Any = field(default=None, repr=False)
    history: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def __call__(self, fold: Fold) -> np.ndarray:
        """Fit on ``fold`` when it is a refit fold (or nothing is fitted), then forecast."""
        if fold.refit or self.model is None:
            self.fit(fold)
        return np.asarray(self.model.predict(fold.test.inputs, batch_size=1024, verbose=0))

    def fit(self, fold: Fold) -> None:
        """Fit normalisation and weights on the fold's training windows only."""
        import keras

        from fincast.models.builders import fit_scaling
        from fincast.training.fit import set_seed, train_model

        keras.backend.clear_session(free_memory=False)  # gc.collect costs ~0.3 s a fold
        set_seed(self.seed)
        train, validation = validation_split(fold.train, self.validation_fraction, fold.horizon)
        # (target_feature only when it is not the default, for builders without it)
        where = {"target_feature": self.target_feature} if self.target_feature else {}
        options: dict[str, Any] = {"quantiles": list(self.quantiles)} if self.quantiles else {}
        model = self.build_model(
            lookback=train.inputs.shape[1],
            num_features=train.inputs.shape[2],
            horizon=fold.horizon,
            scaling=fit_scaling(train.inputs, train.targets, **where),
            **options,
        )
        result = train_model(
            model,
            (train.inputs, train.targets),
            (validation.inputs, validation.targets) if len(validation) else None,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            patience=self.patience,
            loss=self._loss(),
            verbose=self.verbose,
            jit_compile=self.jit_compile,
        )
        self.model, self.history = result.model, result.history

    def _loss(self) -> Any:
        if not self.quantiles:
            return "mse"
        from fincast.models.losses import PinballLoss

        return PinballLoss(list(self.quantiles))
