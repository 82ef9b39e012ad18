# syntax=docker/dockerfile:1
#
# fincast: production image (CPU; Keras 3 on JAX or TensorFlow, no torch).
#
# Build:
#   docker build -t fincast .
#
# Serve the dashboard, published on the host's loopback interface only:
#   docker run --rm -p 127.0.0.1:8501:8501 fincast
#   # then open http://127.0.0.1:8501
#
# Run a CLI instead of the dashboard (any command replaces the default CMD):
#   docker run --rm -v fincast-state:/app/state fincast fincast-train training.epochs=2
#   docker run --rm -v fincast-state:/app/state fincast fincast-forecast
#   docker run --rm -v fincast-state:/app/state fincast fincast-backtest
#   docker run --rm -v fincast-state:/app/state fincast fincast-fetch data=yfinance
#
# Serve the dashboard over the models and MLflow runs that the CLIs recorded:
#   docker run --rm -p 127.0.0.1:8501:8501 -v fincast-state:/app/state fincast
#
# Notes:
#   * All runtime state (mlflow.db, models/, data/cache/, outputs/, multirun/) is written
#     relative to the working directory /app/state. Mount a volume there to keep it.
#     A named volume inherits the directory's owner (uid 10001); for a bind mount,
#     make the host directory writable by uid 10001 first.
#   * Add --init to `docker run` so that CLI jobs stop promptly on `docker stop`.
#   * The HEALTHCHECK probes the dashboard; for one-off CLI jobs add --no-healthcheck.
#   * Keras picks its backend automatically; choose one with -e KERAS_BACKEND=jax
#     (or tensorflow), or with the override backend=jax on a CLI.
#   * The dashboard reads FINCAST_BACKEND, FINCAST_TRACKING_URI and FINCAST_MODEL_URI (-e ...).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------
# Stage 1: build the fincast wheel and install it, with its dependencies, into a venv.
# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# The venv lives at the same path in both stages, so its scripts' shebangs stay valid.
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that this (large) layer is reused
# while only the code changes. Optional extras (torch, dev) are not installed.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install --no-cache-dir -r /tmp/requirements.txt

# The package itself: a regular (non-editable) wheel, which carries conf/ as
# fincast/conf and data/sample/ as fincast/sample_data.
COPY src/ src/
COPY conf/ conf/
COPY data/sample/ data/sample/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
 && pip install --no-cache-dir /tmp/wheels/fincast-*.whl \
 && python -c "from fincast.paths import config_dir, sample_data_dir; print(config_dir(), sample_data_dir())"

# ---------------------------------------------------------------------------------------
# Stage 2: the runtime image, without build tools, sources or pip caches.
# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="fincast" \
      org.opencontainers.image.description="Financial forecasting on portable Keras 3: any backend, honest baselines, tracked in MLflow. Serves a Streamlit dashboard; also runs the fincast-* CLIs." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.authors="fincast developers" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# PYTHONUNBUFFERED: logs reach `docker logs` at once.
# KERAS_BACKEND is deliberately left unset: fincast picks a backend automatically.
# TF_CPP_MIN_LOG_LEVEL=2: hide TensorFlow's info/warning chatter.
# MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false: never unpickle model artifacts.
# GIT_PYTHON_REFRESH=quiet: no git in the image; keep MLflow's GitPython import quiet.
# STREAMLIT_*: usage statistics off and no file watcher (code in the image never changes).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false \
    GIT_PYTHON_REFRESH=quiet \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none

# An unprivileged user with a writable home (Keras, Matplotlib and Streamlit keep small
# files under ~), and a writable state directory that is the working directory.
RUN groupadd --system --gid 10001 fincast \
 && useradd --system --uid 10001 --gid fincast --create-home --home-dir /home/fincast \
        --shell /usr/sbin/nologin fincast \
 && mkdir -p /app/state/data/cache /app/state/models /app/state/outputs \
 && chown -R fincast:fincast /app/state

COPY --from=builder /opt/venv /opt/venv

# The dashboard, owned by root and so read-only for the user.
COPY app/ /app/app/
COPY .streamlit/ /app/.streamlit/
# Streamlit reads config.toml from ~/.streamlit/, from $CWD/.streamlit/ and (in recent
# versions) from the script's folder; the working directory is /app/state, so the
# settings are installed as the user's global config too.
COPY --chown=fincast:fincast .streamlit/config.toml /home/fincast/.streamlit/config.toml

USER 10001:10001
WORKDIR /app/state

EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

# No ENTRYPOINT: any command given to `docker run` replaces this one, e.g. fincast-train.
# Inside a container the server must listen on 0.0.0.0 (the container's loopback is not
# reachable through a published port); keep it private on the host by publishing with
# -p 127.0.0.1:8501:8501. The flags override server.address = "127.0.0.1" in config.toml.
CMD ["streamlit", "run", "/app/app/Home.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
