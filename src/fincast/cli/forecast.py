"""``fincast-forecast``: forecast the next days from a registered or saved model.

Every ticker a model serves is forecast in one batched predict: ``fincast-forecast
data=stocknet data.tickers=all output=json`` returns the universe in one object.
"""

from __future__ import annotations

import json

from omegaconf import DictConfig

from fincast.cli.common import fail, job_spec, load_models_and_bars, run_hydra_app, start_backend

COMMAND = "fincast-forecast"


def forecast(config: DictConfig) -> None:
    """The Hydra task of ``fincast-forecast``."""
    job = job_spec(config, COMMAND)
    if not str(job.model_uri or "").endswith(".onnx"):  # onnxruntime needs no Keras backend
        start_backend(config, COMMAND)
    from fincast.data.sources import MarketDataError
    from fincast.serving.forecast import forecast_panel

    forecasters, bars = load_models_and_bars(job, COMMAND)
    wanted = [ticker for ticker in job.data.tickers if ticker in bars]
    groups: dict[int, list[str]] = {}  # the tickers of each model: one batched predict each
    for ticker in wanted:
        groups.setdefault(id(forecasters[ticker]), []).append(ticker)
    try:
        found = {
            forecast.ticker: forecast
            for tickers in groups.values()
            for forecast in forecast_panel(forecasters[tickers[0]], bars, tickers)
        }
    except (MarketDataError, ValueError) as error:
        fail(COMMAND, error)
    results = [found[ticker] for ticker in wanted]
    if job.output == "json":
        payloads = [result.to_dict() for result in results]
        print(json.dumps(payloads[0] if len(payloads) == 1 else {"forecasts": payloads}))
        return
    for result in results:
        print(
            f"Forecast for {result.ticker} after {result.as_of} from {result.model_uri} "
            f"(backend {result.backend}{result.interval_caption}):"
        )
        print(result.to_frame().to_string(float_format=lambda value: f"{value:,.6f}"))


def main() -> None:
    """Console entry point."""
    run_hydra_app(forecast)


if __name__ == "__main__":
    main()
