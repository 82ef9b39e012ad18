"""``fincast-forecast``: forecast the next days from a registered or saved model."""

from __future__ import annotations

import json

from omegaconf import DictConfig

from fincast.cli.common import default_model_uri, fail, plain, run_hydra_app, start_backend

COMMAND = "fincast-forecast"


def forecast(config: DictConfig) -> None:
    """The Hydra task of ``fincast-forecast``."""
    if config.output not in ("table", "json"):
        fail(COMMAND, f"output must be table or json. Received: output={config.output}")
    start_backend(config, COMMAND)
    from fincast.data.loading import load_bars
    from fincast.data.sources import MarketDataError, MarketDataUnavailable
    from fincast.serving.forecast import forecast_ticker, load_forecaster
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
        results = [forecast_ticker(forecaster, bars[ticker], ticker) for ticker in tickers]
    except TrackingError as error:
        fail(COMMAND, f"{error} (no model yet? run `fincast-train` or `make run` first)")
    except (MarketDataError, MarketDataUnavailable, ValueError, FileNotFoundError) as error:
        fail(COMMAND, error)
    if config.output == "json":
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
