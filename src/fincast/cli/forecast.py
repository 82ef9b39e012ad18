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
        start_lean_backend(config)
    from fincast.data.sources import MarketDataError
    from fincast.serving.forecast import forecast_panel

    forecasters, bars = load_models_and_bars(job, COMMAND)
    for forecaster in forecasters.values():
        forecaster.once = True  # one predict per model: no fast path to compile and check
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


def start_lean_backend(config: DictConfig) -> None:
    """:func:`start_backend`, Keras imported without the extras a forecast never uses
    (matplotlib, scikit-learn, JAX on another backend: :mod:`fincast.serving.lean_keras`)."""
    from fincast.backend import BackendError, resolve_backend
    from fincast.serving.lean_keras import keras_extras_left_out

    try:
        backend = resolve_backend(str(config.backend))
    except BackendError as error:
        fail(COMMAND, error)
    with keras_extras_left_out(backend):
        start_backend(config, COMMAND)


def main() -> None:
    """Console entry point."""
    run_hydra_app(forecast)


if __name__ == "__main__":
    main()
