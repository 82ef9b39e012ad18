"""``fincast-backtest``: score a registered or saved model on the data after its training period.

Minimal version: one held-out evaluation next to the naive and historical-mean
baselines. Walk-forward backtests with refits come with the evaluation work.
"""

from __future__ import annotations

from omegaconf import DictConfig

from fincast.cli.common import default_model_uri, fail, plain, run_hydra_app, start_backend

COMMAND = "fincast-backtest"


def backtest(config: DictConfig) -> None:
    """The Hydra task of ``fincast-backtest``."""
    start_backend(config, COMMAND)
    from fincast.data.loading import load_bars
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.evaluation.backtest import score_unseen
    from fincast.serving.forecast import load_forecaster
    from fincast.tracking.mlflow_store import TrackingError

    model_uri = default_model_uri(config)
    try:
        forecaster = load_forecaster(model_uri, str(config.tracking.uri))
        tickers = list(config.data.tickers)
        bars = load_bars(
            str(config.data.source),
            tickers,
            cache_dir=str(config.data.cache_dir),
            options=plain(config.data.options),
        )
        for ticker in tickers:
            scores = score_unseen(forecaster, bars[ticker])
            print(
                f"{ticker}: {scores.attrs['windows']} unseen windows, "
                f"{scores.attrs['first_day']} .. {scores.attrs['last_day']} ({model_uri})"
            )
            print(scores.to_string(float_format=lambda value: f"{value:.6f}"))
    except TrackingError as error:
        fail(COMMAND, f"{error} (no model yet? run `fincast-train` first)")
    except (MarketDataError, MarketDataUnavailable, ValueError, FileNotFoundError) as error:
        fail(COMMAND, error)


def main() -> None:
    """Console entry point."""
    run_hydra_app(backtest)


if __name__ == "__main__":
    main()
