"""``fincast-forecast``: forecast the next days from a registered or saved model."""

from __future__ import annotations

import json

from omegaconf import DictConfig

from fincast.cli.common import fail, job_spec, load_models_and_bars, run_hydra_app, start_backend

COMMAND = "fincast-forecast"


def forecast(config: DictConfig) -> None:
    """The Hydra task of ``fincast-forecast``."""
    job = job_spec(config, COMMAND)
    start_backend(config, COMMAND)
    from fincast.data.sources import MarketDataError
    from fincast.serving.forecast import forecast_ticker

    forecasters, bars = load_models_and_bars(job, COMMAND)
    try:
        results = [
            forecast_ticker(forecasters[ticker], frame, ticker) for ticker, frame in bars.items()
        ]
    except (MarketDataError, ValueError) as error:
        fail(COMMAND, error)
    if job.output == "json":
        payloads = [result.to_dict() for result in results]
        print(json.dumps(payloads[0] if len(payloads) == 1 else {"forecasts": payloads}))
        return
    for result in results:
        print(
            f"Forecast for {result.ticker} after {result.as_of} from {result.model_uri} "
            f"(backend {result.backend}):"
        )
        print(result.to_frame().to_string(float_format=lambda value: f"{value:,.6f}"))


def main() -> None:
    """Console entry point."""
    run_hydra_app(forecast)


if __name__ == "__main__":
    main()
