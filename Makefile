# fincast: `make run` trains on the bundled data; `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := constraints.txt
APP_PORT ?= 8501
UI_PORT ?= 5000
TRACKING_DB := $(CURDIR)/mlflow.db
ARGS ?=
PYTEST_ARGS ?=

.PHONY: help install install-dev run test test-fast bench evidence app ui lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fincast needs Python 3.11+; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet -c $(CONSTRAINTS) -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[dev,torch,sweeps,ray]'
	@touch $@

install: $(VENV)/.installed ## Create .venv and install fincast (no torch)

install-dev: $(VENV)/.installed-dev ## Install fincast with test tools, sweep plugins and the CPU build of torch

run: install ## Train the LSTM on the bundled S&P 500 data, score it, log to MLflow, print the forecast, then a short walk-forward backtest vs baselines (ARGS=overrides)
	$(BIN)/fincast-train $(ARGS)
	$(BIN)/fincast-backtest evaluation=walkforward evaluation.folds=3 training.epochs=3 $(ARGS)

test: install-dev ## Run the whole test suite (unit, end-to-end)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install-dev ## Run the suite without the slow end-to-end, browser and cross-backend tests
	$(BIN)/python -m pytest -m "not e2e and not browser and not cross_backend and not slow" $(PYTEST_ARGS)

# The peers (Darts, JAX + optax; torch stays the CPU build) live in their own venv, not fincast's.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: $(CONSTRAINTS) benchmarks/requirements-peers.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) -r benchmarks/requirements-peers.txt
	@touch $@

bench: install-dev $(BENCH_VENV)/.installed ## Speed and accuracy vs peers: training (2 threads, larger size, 1 thread), forecast latency, startup, backtest vs Darts, cache panel, universe scale, accuracy vs Darts/NeuralForecast (~90 min) -> benchmarks/results/
	$(BIN)/python benchmarks/train_speed.py --peer-python $(BENCH_VENV)/bin/python
	$(BIN)/python benchmarks/train_speed.py --peer-python $(BENCH_VENV)/bin/python --size large
	$(BIN)/python benchmarks/train_speed.py --peer-python $(BENCH_VENV)/bin/python --threads 1
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/forecast_startup.py
	$(BIN)/python benchmarks/backtest_speed.py --backends torch --repeats 3 --skip-default
	$(BIN)/python benchmarks/backtest_speed.py --output benchmarks/results/backtest_speed_backends.json
	$(BIN)/python benchmarks/cache_panel.py
	$(BIN)/python benchmarks/universe_scale.py
	$(BIN)/python benchmarks/accuracy_vs_peers.py --peer-python $(BENCH_VENV)/bin/python

evidence: install ## The README's evaluation figures: both 10-fold walk-forward backtests of the default LSTM on the bundled ^GSPC (TensorFlow, ~5 min) -> outputs/evidence/
	$(BIN)/fincast-backtest experiment=sp500_returns backend=tensorflow tracking=none hydra.run.dir=outputs/evidence/returns
	$(BIN)/fincast-backtest experiment=sp500_volatility backend=tensorflow tracking=none hydra.run.dir=outputs/evidence/volatility

app: install ## Serve the Streamlit dashboard on http://127.0.0.1:8501 with its security settings (fincast-app; APP_PORT=...)
	FINCAST_TRACKING_URI=sqlite:///$(TRACKING_DB) FINCAST_MLFLOW_UI_URL=http://127.0.0.1:$(UI_PORT) \
		$(BIN)/fincast-app --server.port $(APP_PORT)

ui: install ## Serve the MLflow UI over the local store on http://127.0.0.1:5000 (UI_PORT=...)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(TRACKING_DB) \
		--default-artifact-root $(CURDIR)/mlartifacts --host 127.0.0.1 --port $(UI_PORT)

lint: install-dev ## ruff (lint + format check), mypy, hadolint
	$(BIN)/ruff check src tests app
	$(BIN)/ruff format --check src tests app
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

format: install-dev ## Format the code with ruff
	$(BIN)/ruff format src tests app
	$(BIN)/ruff check --fix src tests app

clean: ## Remove caches and run outputs (keeps .venv, mlflow.db and models/)
	rm -rf outputs multirun .pytest_cache .mypy_cache .ruff_cache test-artifacts
