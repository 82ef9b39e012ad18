"""The job spec: every setting of a fincast job, built once from the composed config.

These frozen dataclasses are both Hydra's structured schema (``fincast.cli.schema``
registers them, so a misspelt key or a wrongly typed value fails at start) and the
one object every job reads: ``fincast-train``, ``fincast-backtest``,
``fincast-forecast``, sweeps and the dashboard's quick training. The CLI turns the
composed config into a :class:`JobSpec` with ``OmegaConf.to_object``; Python callers
build one directly. Nothing copies config keys by hand.

Each part checks its own values on construction, and its error names the config key,
the value received and what would work.

>>> TaskSpec(horizon=0)
Traceback (most recent call last):
...
ValueError: task.horizon must be >= 1. Received: task.horizon=0
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fincast.backend import CHOICES as BACKENDS

# flag one-day moves with |log return| > log(1 + 0.4): +40 % or -28.6 % (an unadjusted split)
DEFAULT_MAX_DAILY_MOVE = 0.4
# the allowed values of each choice, in one place (the modules that act on them import these)
SOURCES = ("sample", "yfinance", "csv", "parquet", "stocknet")
REFRESH_POLICIES = ("never", "missing", "always")
ON_INVALID = ("raise", "warn", "repair")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTIONS = ("none", "data_parallel")
POOLINGS = ("pooled", "per_ticker")
NORMALISATIONS = ("global", "ticker")
INTERVAL_METHODS = ("conformal", "aci", "none")
INTERVAL_SCALES = ("recent_volatility", "none")
# covariates that average other tickers (fincast.data.covariates.PAST)
PAST_COVARIATES = ("market_return", "sector_return")
EVALUATIONS = ("holdout", "walkforward")
WINDOW_KINDS = ("expanding", "rolling")
PROMOTIONS = ("better_on_same_data", "always", "never")
DM_TESTS = ("hac", "bootstrap", "hln")
# where a walk-forward's units run: this process | joblib worker processes | a Ray cluster
EXECUTORS = ("local", "joblib", "ray")
VERBOSITIES = ("auto", 0, 1, 2)
# a model family is part of registered names (fincast-<task>-<family>): no "-" in it
NAME = re.compile(r"[A-Za-z0-9_.]+")


def _check_choice(key: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        names = ", ".join(str(choice) for choice in allowed)
        raise ValueError(f"{key} must be one of {names}. Received: {key}={value!r}")


def _check_at_least(key: str, value: float, low: float) -> None:
    if value < low:
        raise ValueError(f"{key} must be >= {low:g}. Received: {key}={value!r}")


@dataclass(frozen=True)
class DataSpec:
    """Where the bars come from, and the data checks they must pass (``data`` group).

    ``tickers`` takes symbols, ``all`` (every ticker the source holds) or
    ``sector:<name>`` (a sector of ``data=stocknet``), as a list or one string; they are
    expanded on construction (:mod:`fincast.data.universe`), so ``tickers`` is then a
    list of symbols.
    """

    source: str = "sample"
    # a list or one string (typed Any so that `data.tickers=all` passes the schema)
    tickers: Any = field(default_factory=lambda: ["^GSPC"])
    cache_dir: str = "data/cache"
    # yfinance cache policy: never | missing | always (fincast.data.refresh)
    refresh: str = "missing"
    options: dict[str, Any] = field(default_factory=dict)
    # data checks (fincast.data.validate): raise | warn | repair, exchange calendars, jumps
    on_invalid: str = "raise"
    calendar: str | None = "XNYS"
    calendars: dict[str, str] = field(default_factory=dict)
    max_daily_move: float | None = DEFAULT_MAX_DAILY_MOVE

    def __post_init__(self) -> None:
        _check_choice("data.source", self.source, SOURCES)
        _check_choice("data.refresh", self.refresh, REFRESH_POLICIES)
        _check_choice("data.on_invalid", self.on_invalid, ON_INVALID)
        if self.max_daily_move is not None and self.max_daily_move <= 0:
            raise ValueError(
                "data.max_daily_move must be > 0 or null. "
                f"Received: data.max_daily_move={self.max_daily_move!r}"
            )
        named = self.source in ("sample", "stocknet", "yfinance")
        if not self.tickers and named:
            raise ValueError(
                f"data.tickers is empty; name the series to load, e.g. "
                f"'data.tickers=[^GSPC]' or data.tickers=all. "
                f"Received: data.tickers={self.tickers!r}"
            )
        from fincast.data.tickers import check_tickers
        from fincast.data.universe import as_list, is_selector, select_tickers

        try:
            if named:  # malformed symbols first: their one-line error quotes them, shortened
                check_tickers(name for name in as_list(self.tickers) if not is_selector(name))
            tickers = select_tickers(
                self.source, self.tickers, cache_dir=self.cache_dir, options=self.options
            )
            if named:  # and the cache's own names
                check_tickers(tickers)
        except ValueError as error:
            raise ValueError(f"data.tickers: {error}") from None
        object.__setattr__(self, "tickers", tickers)  # frozen: set once, here


@dataclass(frozen=True)
class FeaturesSpec:
    """The causal input features, covariates and the modelled price column (``features`` group)."""

    names: list[str] = field(default_factory=lambda: ["log_return", "log_range", "volume_change"])
    price: str = "adj_close"
    # inputs from other series and the calendar (fincast.data.covariates): market_return,
    # sector_return (past); future_day_of_week, future_month_end, sessions_to_holiday
    covariates: list[str] = field(default_factory=list)
    # learned embeddings of a global model: ticker, sector (fincast.models.identity)
    embeddings: list[str] = field(default_factory=list)
    embedding_dim: int = 4
    # scaling of the inputs and outputs, fitted on the training slice: global (pooled over
    # tickers) | ticker (each ticker its own; a global model's windows carry a ticker id).
    # Per-window scaling is RevIN: model.builder.reversible_norm=true
    normalise: str = "global"

    def __post_init__(self) -> None:
        _check_choice("features.price", self.price, ("adj_close", "close"))
        _check_choice("features.normalise", self.normalise, NORMALISATIONS)
        from fincast.data.covariates import check_covariates, check_embeddings

        check_covariates(self.covariates)
        check_embeddings(self.embeddings)
        _check_at_least("features.embedding_dim", self.embedding_dim, 1)

    @property
    def identities(self) -> list[str]:
        """The identity columns (``ticker_id``, ``sector_id``) the model's windows carry."""
        from fincast.data.covariates import identities_of

        return identities_of(self.embeddings, self.normalise)


@dataclass(frozen=True)
class IntervalSpec:
    """Calibrated prediction intervals (``task.intervals``; :mod:`fincast.conformal`).

    ``conformal``: split conformal on the validation windows' residuals for a point
    model, conformalised quantile regression of its own interval for a quantile model;
    the calibration lives on the model card, so every serving path gives the same
    interval. ``aci``: in a walk-forward, adaptive conformal inference (Gibbs & Candes
    2021) moves a point model's level online with its misses, each known ``horizon``
    sessions later (``gamma``: the step); a trained model's card holds the split
    interval, as with ``conformal``. ``none``: no interval.

    ``scale``: ``recent_volatility`` normalises a point model's scores by each window's
    root mean square log return over its last ``scale_window`` sessions, so the width
    follows the volatility regime; ``none``: one width per step.
    """

    method: str = "conformal"
    # the central interval's coverage (0.8: an 80% interval)
    level: float = 0.8
    # ACI's step size (Gibbs & Candes use 0.005)
    gamma: float = 0.005
    scale: str = "recent_volatility"
    scale_window: int = 20

    def __post_init__(self) -> None:
        _check_choice("task.intervals.method", self.method, INTERVAL_METHODS)
        _check_choice("task.intervals.scale", self.scale, INTERVAL_SCALES)
        if self.scale_window < 2:
            raise ValueError(
                "task.intervals.scale_window must be at least 2 sessions, e.g. 20. "
                f"Received: task.intervals.scale_window={self.scale_window!r}"
            )
        if not 0 < self.gamma < 1:
            raise ValueError(
                "task.intervals.gamma must be in (0, 1). "
                f"Received: task.intervals.gamma={self.gamma!r}"
            )
        if not 0 < self.level < 1:
            raise ValueError(
                "task.intervals.level must be in (0, 1), e.g. 0.8 for an 80% interval. "
                f"Received: task.intervals.level={self.level!r}"
            )


@dataclass(frozen=True)
class TaskSpec:
    """What is forecast (``task`` group); the task itself is in :mod:`fincast.evaluation.tasks`."""

    name: str = "returns"
    target: str = "log_return"
    lookback: int = 60
    horizon: int = 5
    # quantile levels to forecast (must include 0.5, the point forecast); None = point only
    quantiles: list[float] | None = None
    intervals: IntervalSpec = field(default_factory=IntervalSpec)

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(
                f"task.name must be letters, digits, _ or . only. Received: task.name={self.name!r}"
            )
        _check_at_least("task.lookback", self.lookback, 1)
        _check_at_least("task.horizon", self.horizon, 1)
        if self.quantiles is not None:
            from fincast.quantiles import median_index

            median_index(self.quantiles)


@dataclass(frozen=True)
class ModelSpec:
    """The model family and its builder (``model`` group): ``_target_`` plus its options."""

    name: str = "lstm"
    builder: dict[str, Any] = field(
        default_factory=lambda: {"_target_": "fincast.models.builders.build_lstm"}
    )

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(
                "model.name is part of registered model names: letters, digits, _ or . "
                f"only. Received: model.name={self.name!r}"
            )

    def build_function(self) -> Callable[..., Any]:
        """The builder, called as ``build(lookback=, num_features=, horizon=, scaling=)``."""
        from hydra.utils import instantiate

        options = {key: value for key, value in self.builder.items() if key != "_partial_"}
        return instantiate({**options, "_partial_": True})


@dataclass(frozen=True)
class ReduceLearningRate:
    """ReduceLROnPlateau on the validation loss; ``patience: 0`` keeps the rate fixed."""

    patience: int = 3
    factor: float = 0.5
    min_lr: float = 1e-6


@dataclass(frozen=True)
class FitSpec:
    """How a model is fitted (``training`` group): the same for training and every refit."""

    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    # epochs without validation improvement before early stopping (best weights restored)
    patience: int = 5
    reduce_lr: ReduceLearningRate | None = field(default_factory=ReduceLearningRate)
    # float32 | mixed_float16 | mixed_bfloat16 (fincast.fitting.hardware)
    precision: str = "float32"
    # none | data_parallel
    distribution: str = "none"
    verbose: Any = "auto"
    # XLA: auto | true | false (fincast.fitting.fit.jit_compile_setting)
    jit_compile: Any = "auto"
    # pooled: one model fitted on every ticker's windows; per_ticker: one model per ticker
    pooling: str = "pooled"

    def __post_init__(self) -> None:
        _check_at_least("training.epochs", self.epochs, 1)
        _check_at_least("training.batch_size", self.batch_size, 1)
        _check_at_least("training.patience", self.patience, 0)
        if not self.learning_rate > 0:
            raise ValueError(
                "training.learning_rate must be > 0. "
                f"Received: training.learning_rate={self.learning_rate!r}"
            )
        _check_choice("training.precision", self.precision, PRECISIONS)
        _check_choice("training.distribution", self.distribution, DISTRIBUTIONS)
        _check_choice("training.pooling", self.pooling, POOLINGS)
        if isinstance(self.verbose, bool) or self.verbose not in VERBOSITIES:
            raise ValueError(
                "training.verbose must be auto, 0, 1 or 2. "
                f"Received: training.verbose={self.verbose!r}"
            )
        jit = self.jit_compile
        if not (jit in ("auto", "true", "false") or isinstance(jit, bool)):
            raise ValueError(
                "training.jit_compile must be auto, true or false. "
                f"Received: training.jit_compile={jit!r}"
            )
        schedule = self.reduce_lr
        if schedule is not None and schedule.patience > 0 and not 0 < schedule.factor < 1:
            raise ValueError(
                "training.reduce_lr.factor must be in (0, 1). "
                f"Received: training.reduce_lr.factor={schedule.factor!r}"
            )


@dataclass(frozen=True)
class TradingSpec:
    """The trading view of return forecasts (``evaluation.trading``)."""

    threshold: float = 0.0
    cost_bps: float = 5.0
    long_only: bool = False


@dataclass(frozen=True)
class CrossSectionSpec:
    """Cross-sectional scores of a walk-forward over several tickers (``evaluation.cross_section``).

    Per-date IC and rank IC, long-short quantile portfolios, and per-ticker DM tests
    with multiple-testing control (``fincast.evaluation.universe``).
    """

    # portfolios: buckets by forecast (5: quintiles), cost per unit of turnover, sector-neutral
    quantiles: int = 5
    cost_bps: float = 5.0
    sector_neutral: bool = False
    # family-wise (Holm) and false-discovery (Benjamini-Hochberg) level of the per-ticker DM tests
    alpha: float = 0.05
    # fewest tickers with a forecast on a date for that date's IC and portfolios
    min_tickers: int = 5

    def __post_init__(self) -> None:
        _check_at_least("evaluation.cross_section.quantiles", self.quantiles, 2)
        _check_at_least("evaluation.cross_section.cost_bps", self.cost_bps, 0)
        _check_at_least("evaluation.cross_section.min_tickers", self.min_tickers, 2)
        if not 0 < self.alpha < 1:
            raise ValueError(
                "evaluation.cross_section.alpha must be in (0, 1). "
                f"Received: evaluation.cross_section.alpha={self.alpha!r}"
            )


@dataclass(frozen=True)
class RaySpec:
    """The cluster a walk-forward runs on under ``evaluation.executor=ray`` (``evaluation.ray``).

    Each unit (the folds between two refits, of one model: one ticker's for a per-ticker
    job) is one Ray task with these resource requests, retried on a lost worker or node.
    """

    # auto (the cluster this machine is part of, or RAY_ADDRESS) | the head's host:port
    address: str = "auto"
    # resources each task asks for (a GPU task: num_gpus=1)
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    # times a task is rerun after its worker process or node dies (never after an error)
    max_retries: int = 3
    # seconds to wait for the head before failing
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        _check_at_least("evaluation.ray.num_cpus", self.num_cpus, 0)
        _check_at_least("evaluation.ray.num_gpus", self.num_gpus, 0)
        _check_at_least("evaluation.ray.max_retries", self.max_retries, 0)
        if self.connect_timeout_s <= 0:
            raise ValueError(
                "evaluation.ray.connect_timeout_s must be > 0. "
                f"Received: evaluation.ray.connect_timeout_s={self.connect_timeout_s!r}"
            )
        if not self.address.strip():
            raise ValueError(
                "evaluation.ray.address must be auto or the head's host:port, e.g. "
                f"10.0.0.5:6379. Received: evaluation.ray.address={self.address!r}"
            )


@dataclass(frozen=True)
class EvaluationSpec:
    """How a model is scored (``evaluation`` group): a hold-out, or a walk-forward backtest.

    A hold-out is a walk-forward plan of one fold of ``test_days`` days
    (:func:`fincast.evaluation.folds.holdout_plan`); both cut with the same
    purge-and-embargo code.
    """

    # holdout | walkforward
    name: str = "holdout"
    # the trading days held out by fincast-train
    test_days: int = 250
    # share of the training windows (the latest) used for early stopping
    validation_fraction: float = 0.15
    # windows dropped between parts beyond purging overlapping targets; None = horizon
    embargo: int | None = None
    folds: int = 10
    step: int = 250
    window: str = "expanding"
    train_windows: int | None = None
    min_train_windows: int = 250
    refit_every: int = 1
    # local (this process) | joblib (n_jobs worker processes) | ray (a cluster, see RaySpec)
    executor: str = "joblib"
    n_jobs: int = 1
    ray: RaySpec = field(default_factory=RaySpec)
    baselines: list[str] | None = None
    trading: TradingSpec = field(default_factory=TradingSpec)
    cross_section: CrossSectionSpec = field(default_factory=CrossSectionSpec)
    plots: bool = True
    # Diebold-Mariano variant: hac (Newey-West, automatic bandwidth) | bootstrap | hln
    dm_test: str = "hac"
    # Model Confidence Set size (0.1: a 90% set) and SPA test; null skips both
    mcs_size: float | None = 0.10

    def __post_init__(self) -> None:
        _check_choice("evaluation.name", self.name, EVALUATIONS)
        _check_choice("evaluation.window", self.window, WINDOW_KINDS)
        _check_choice("evaluation.dm_test", self.dm_test, DM_TESTS)
        _check_choice("evaluation.executor", self.executor, EXECUTORS)
        if self.mcs_size is not None and not 0 < self.mcs_size < 1:
            raise ValueError(
                "evaluation.mcs_size must be in (0, 1) or null. "
                f"Received: evaluation.mcs_size={self.mcs_size!r}"
            )
        for key in ("test_days", "folds", "step", "min_train_windows"):
            _check_at_least(f"evaluation.{key}", getattr(self, key), 1)
        _check_at_least("evaluation.refit_every", self.refit_every, 0)
        if self.n_jobs == 0 or self.n_jobs < -1:
            raise ValueError(
                "evaluation.n_jobs must be >= 1, or -1 for one worker per core. "
                f"Received: evaluation.n_jobs={self.n_jobs!r}"
            )
        if self.executor == "local" and self.n_jobs != 1:
            raise ValueError(
                "evaluation.executor=local runs every fold in this process; for worker "
                "processes set evaluation.executor=joblib. "
                f"Received: evaluation.n_jobs={self.n_jobs!r}"
            )
        if self.window == "rolling" and not (self.train_windows and self.train_windows > 0):
            raise ValueError(
                "evaluation.train_windows must be a positive number of windows for a rolling "
                f"window. Received: evaluation.train_windows={self.train_windows!r}"
            )
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(
                "evaluation.validation_fraction must be in [0, 1). "
                f"Received: evaluation.validation_fraction={self.validation_fraction!r}"
            )


@dataclass(frozen=True)
class TrackingSpec:
    """Where runs and models are recorded (``tracking`` group)."""

    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "fincast"
    register: bool = True
    # better_on_same_data | always | never
    promotion: str = "better_on_same_data"

    def __post_init__(self) -> None:
        _check_choice("tracking.promotion", self.promotion, PROMOTIONS)


@dataclass(frozen=True)
class PathsSpec:
    """Where models are saved."""

    models: str = "models"


@dataclass(frozen=True)
class JobSpec:
    """Every setting of one fincast job (the composed config, checked and frozen)."""

    data: DataSpec = field(default_factory=DataSpec)
    features: FeaturesSpec = field(default_factory=FeaturesSpec)
    task: TaskSpec = field(default_factory=TaskSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    training: FitSpec = field(default_factory=FitSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    tracking: TrackingSpec = field(default_factory=TrackingSpec)
    backend: str = "auto"
    seed: int = 42
    # fincast-forecast: table | json
    output: str = "table"
    # a model to forecast or score (null: the champion of this task and model family)
    model_uri: str | None = None
    paths: PathsSpec = field(default_factory=PathsSpec)

    def __post_init__(self) -> None:
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("output", self.output, ("table", "json"))
        self.embargo  # noqa: B018 (raises for an embargo shorter than the horizon)
        if self.task.intervals.method == "aci" and self.evaluation.n_jobs != 1:
            raise ValueError(
                "task.intervals.method=aci updates its level from fold to fold, so the folds "
                "run one after another: set evaluation.n_jobs=1. "
                f"Received: evaluation.n_jobs={self.evaluation.n_jobs}"
            )
        if self.task.intervals.method == "aci" and self.evaluation.executor == "ray":
            raise ValueError(
                "task.intervals.method=aci updates its level from fold to fold, so the folds "
                "run one after another in one process: set evaluation.executor=local. "
                "Received: evaluation.executor=ray"
            )
        past = [name for name in self.features.covariates if name in PAST_COVARIATES]
        if self.training.pooling == "per_ticker" and past:
            raise ValueError(
                f"features.covariates {', '.join(past)} average the universe's returns, and "
                "training.pooling=per_ticker trains each ticker's model on its bars alone; "
                "fit one global model (training.pooling=pooled) or keep the calendar "
                f"covariates only. Received: features.covariates={list(self.features.covariates)}"
            )
        if self.training.pooling == "per_ticker" and not self.data.tickers:
            raise ValueError(
                "training.pooling=per_ticker fits one model per ticker; name them, e.g. "
                "'data.tickers=[^GSPC,^IXIC]'. Received: data.tickers=[]"
            )

    @property
    def target_feature(self) -> int:
        """Position of the target among the features (0 when it is not one, e.g. volatility)."""
        names = list(self.features.names)
        return names.index(self.task.target) if self.task.target in names else 0

    @property
    def embargo(self) -> int:
        """Windows dropped between training and test parts: at least the horizon.

        Raises:
            ValueError: an embargo shorter than the horizon.
        """
        embargo = self.evaluation.embargo
        if embargo is None:
            return self.task.horizon
        if embargo < self.task.horizon:
            raise ValueError(
                f"evaluation.embargo must be at least the horizon ({self.task.horizon}). "
                f"Received: evaluation.embargo={embargo}"
            )
        return int(embargo)
