"""The one fit: build a forecaster, fit it under the job's schedule and precision, save it.

Below evaluation and training: the main job and every walk-forward refit call
:func:`fincast.fitting.forecaster.fit_forecaster`, so a backtest scores exactly the
recipe that training deploys.
"""
