"""``fincast-backtest``: score a registered or saved model on the data after its training period.

Minimal version: one held-out evaluation next to the naive and historical-mean
baselines. Walk-forward backtests with refits come with the evaluation work.
"""

from __future__ import annotations

from omegaconf import DictConfig

from fincast.cli.common import fail, load_model_and_bars, run_hydra_app, start_backend

COMMAND = "fincast-backtest"


def backtest(config: DictConfig) -> None:
    """The Hydra task of ``fincast-backtest``."""
    start_backend(config, COMMAND)
    from fincast.data.sources import MarketDataError
    from fincast.evaluation.backtest import score_unseen

    forecaster, bars = load_model_and_bars(config, COMMAND)
    for ticker, frame in bars.items():
        try:
            scores = score_unseen(forecaster, frame)
        except (MarketDataError, ValueError) as error:
            fail(COMMAND, error)
        print(
            f"{ticker}: {scores.attrs['windows']} unseen windows, "
            f"{scores.attrs['first_day']} .. {scores.attrs['last_day']} ({forecaster.uri})"
        )
        print(scores.to_string(float_format=lambda value: f"{value:.6f}"))


def main() -> None:
    """Console entry point."""
    run_hydra_app(backtest)


if __name__ == "__main__":
    main()
