"""Choose the Keras backend before Keras is imported, and report the devices it sees.

Keras fixes its backend on first import, so every entry point calls
:func:`select_backend` before anything imports ``keras``. This is the one module
(besides explicitly gated fast paths) that may import TensorFlow, JAX or PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BACKENDS = ("jax", "tensorflow", "torch")
CHOICES = ("auto", *BACKENDS)
# Measured on a 2-core CPU (README, Speed): TensorFlow's LSTM is ahead of Darts at every
# size and thread count and backtests fastest of the default install; JAX trains the
# reference LSTM fastest but compiles each walk-forward fold's model; torch is an extra.
CPU_PREFERENCE = ("tensorflow", "jax", "torch")
GPU_PREFERENCE = ("jax", "torch", "tensorflow")
_MODULE_OF = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}
HOST_DEVICES_VARIABLE = "FINCAST_JAX_HOST_DEVICES"
HOST_DEVICE_FLAG = "xla_force_host_platform_device_count"
MAX_HOST_DEVICES = 16
TF_INTRA_OP_VARIABLE = "TF_NUM_INTRAOP_THREADS"
TF_INTER_OP_VARIABLE = "TF_NUM_INTEROP_THREADS"


class BackendError(RuntimeError):
    """The requested Keras backend cannot be used in this process."""


@dataclass(frozen=True)
class BackendInfo:
    """The backend Keras runs on in this process, and the devices it sees."""

    name: str
    requested: str
    devices: list[str] = field(default_factory=list)

    @property
    def has_accelerator(self) -> bool:
        """True when any listed device is not a CPU."""
        return any(not device.upper().startswith("CPU") for device in self.devices)

    def as_tags(self) -> dict[str, str]:
        """Flat string tags for experiment tracking."""
        return {
            "backend": self.name,
            "backend_requested": self.requested,
            "devices": ", ".join(self.devices) or "unknown",
        }


def installed_backends() -> list[str]:
    """Names of the Keras backends whose framework is importable here."""
    return [name for name in BACKENDS if importlib.util.find_spec(_MODULE_OF[name]) is not None]


def gpu_present() -> bool:
    """Cheap check for an NVIDIA GPU that does not import any framework."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()


def _jax_has_gpu_plugin() -> bool:
    return any(
        importlib.util.find_spec(plugin) is not None
        for plugin in ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_plugins.xla_cuda12")
    )


def resolve_backend(requested: str) -> str:
    """Turn a requested backend name into the one to use.

    ``KERAS_BACKEND`` in the environment wins over ``requested``. ``auto`` picks an
    installed backend that can use a present GPU, else the fastest one on CPU.

    Args:
        requested: ``auto``, ``jax``, ``tensorflow`` or ``torch``.

    Returns:
        The backend name Keras should use.

    Raises:
        BackendError: the name is unknown or the framework is not installed.
    """
    from_environment = os.environ.get("KERAS_BACKEND", "").strip()
    choice = (from_environment or requested or "auto").strip().lower()
    if choice not in CHOICES:
        origin = "KERAS_BACKEND" if from_environment else "backend"
        raise BackendError(
            f"Unknown backend {choice!r} (from {origin}); choose one of {', '.join(CHOICES)}."
        )
    installed = installed_backends()
    if choice != "auto":
        if choice not in installed:
            raise BackendError(
                f"Backend {choice!r} is not installed; installed backends: "
                f"{', '.join(installed) or 'none'}. "
                + ("Install it with: pip install 'fincast[torch]'." if choice == "torch" else "")
            )
        return choice
    if not installed:
        raise BackendError("No Keras backend is installed; install jax, tensorflow or torch.")
    if gpu_present():
        gpu_ready = [name for name in GPU_PREFERENCE if name in installed]
        if "jax" in gpu_ready and not _jax_has_gpu_plugin():
            gpu_ready.remove("jax")
        if gpu_ready:
            return gpu_ready[0]
    return next(name for name in CPU_PREFERENCE if name in installed)


def preload_http_client() -> None:
    """Load curl_cffi (yfinance's HTTP client) before TensorFlow can shadow its libcurl.

    TensorFlow exports a plain libcurl into the process; curl_cffi loaded after it
    binds to that one and cannot reach Yahoo (:mod:`fincast.data.yahoo_session`).
    """
    from fincast.data.yahoo_session import preload_http_client as preload

    preload()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return max(1, cores or os.cpu_count() or 1)


def configure_tensorflow_threads() -> bool:
    """On a CPU, let TensorFlow run one single-threaded op per core, before it starts.

    TensorFlow's default splits every op over all cores (intra-op threads) and runs
    that many ops side by side (inter-op threads). fincast's models are small: an op's
    product is a few hundred rows, and splitting it costs more than it saves, while
    fincast's LSTM runs its batch as independent shards that fill the cores on their
    own (:mod:`fincast.models.lstm_tf_fastpath`). So on a machine without an NVIDIA
    GPU this sets ``TF_NUM_INTRAOP_THREADS=1`` and ``TF_NUM_INTEROP_THREADS=<cores>``
    (``benchmarks/README.md`` has the training runs of both settings). It changes
    nothing where TensorFlow is already imported or either variable is set: a user's
    own thread settings win. Returns whether it set them.
    """
    if "tensorflow" in sys.modules or gpu_present():
        return False
    if TF_INTRA_OP_VARIABLE in os.environ or TF_INTER_OP_VARIABLE in os.environ:
        return False
    os.environ[TF_INTRA_OP_VARIABLE] = "1"
    os.environ[TF_INTER_OP_VARIABLE] = str(usable_cores())
    return True


def jax_host_devices() -> int:
    """How many CPU devices JAX should present: ``FINCAST_JAX_HOST_DEVICES``, else the cores.

    ``auto`` (the default) takes the cores this process may run on, at most
    :data:`MAX_HOST_DEVICES`; ``1`` keeps JAX's single CPU device.

    Raises:
        BackendError: the variable is neither ``auto`` nor a whole number >= 1.
    """
    value = os.environ.get(HOST_DEVICES_VARIABLE, "auto").strip().lower()
    if value in ("", "auto"):
        return min(MAX_HOST_DEVICES, usable_cores())
    if not value.isdigit() or int(value) < 1:
        raise BackendError(
            f"{HOST_DEVICES_VARIABLE} must be 'auto' or a whole number >= 1 (1: one CPU "
            f"device). Received: {value!r}"
        )
    return int(value)


def active_host_devices() -> int:
    """The CPU devices this process's JAX presents (or will), for workers to present too.

    A worker that splits LSTM batches over as many devices as this process computes the
    same numbers; with another count the last float32 bits of a training differ.
    """
    if "jax" in sys.modules:
        import jax

        return len(jax.devices("cpu"))
    found = re.search(HOST_DEVICE_FLAG + r"=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return int(found.group(1)) if found else 1


def configure_jax_host_devices(count: int | None = None) -> int:
    """Let JAX present the CPU as one device per core, before JAX starts.

    fincast's LSTM on JAX splits a batch over these devices
    (:mod:`fincast.models.lstm_jax_fastpath`); other work runs on the first one as
    before. Adds ``--xla_force_host_platform_device_count`` to ``XLA_FLAGS`` unless JAX
    is already imported, the flags already set a count, or JAX would use a GPU.
    ``count`` (a worker passes its driver's :func:`active_host_devices`) wins over
    ``FINCAST_JAX_HOST_DEVICES``. Returns the count set (0: nothing changed).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or HOST_DEVICE_FLAG in flags:
        return 0
    if gpu_present() and _jax_has_gpu_plugin():
        return 0
    count = jax_host_devices() if count is None else count
    if count < 2:
        return 0
    # first: XLA stops reading its flags at one it cannot parse
    os.environ["XLA_FLAGS"] = f"--{HOST_DEVICE_FLAG}={count} {flags}".strip()
    return count


def select_backend(requested: str = "auto", host_devices: int | None = None) -> str:
    """Set ``KERAS_BACKEND`` for this process; call before the first ``import keras``.

    It also loads yfinance's HTTP client first, so live data works beside TensorFlow;
    on JAX it presents the CPU as one device per core, or as ``host_devices``
    (:func:`configure_jax_host_devices`), and on TensorFlow it runs one single-threaded
    op per core (:func:`configure_tensorflow_threads`).

    Raises:
        BackendError: the backend is unknown, not installed, or Keras was already
            imported with a different backend.
    """
    name = resolve_backend(requested)
    if "keras" in sys.modules:
        # an import statement, not sys.modules: it waits while another thread (a
        # Streamlit rerun) is still importing Keras, where sys.modules holds it half-made
        import keras as keras_module

        active = keras_module.backend.backend()
        if active != name:
            raise BackendError(
                f"Keras is already running on {active!r} in this process; cannot switch "
                f"to {name!r}. Start a new process with KERAS_BACKEND={name}."
            )
    os.environ["KERAS_BACKEND"] = name
    if name == "jax":
        configure_jax_host_devices(host_devices)
    elif name == "tensorflow":
        configure_tensorflow_threads()
    if "tensorflow" not in sys.modules:
        preload_http_client()
    return name


def list_devices(name: str) -> list[str]:
    """Devices the given (already selected) backend can run on, e.g. ``['CPU:0']``."""
    if name == "jax":
        import jax

        return [f"{device.platform.upper()}:{device.id}" for device in jax.devices()]
    if name == "tensorflow":
        import tensorflow as tf

        return [
            device.name.removeprefix("/physical_device:")
            for device in tf.config.list_physical_devices()
        ]
    if name == "torch":
        import torch

        devices = ["CPU:0"]
        if torch.cuda.is_available():
            devices += [f"GPU:{index}" for index in range(torch.cuda.device_count())]
        return devices
    raise BackendError(f"Unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.")


def describe_backend(requested: str = "auto") -> BackendInfo:
    """Select the backend, import Keras on it, and list its devices."""
    name = select_backend(requested)
    import keras  # noqa: F401  (imported here, after the backend is fixed)

    return BackendInfo(name=name, requested=requested, devices=list_devices(name))


@contextmanager
def tensorflow_left_alone() -> Iterator[None]:
    """Keras' lazy ``tensorflow`` module reads as not installed inside the block.

    Keras asks whether TensorFlow is installed (and so imports it, with its C++
    banners) to seed it and when it serialises a model, on every backend. Where
    TensorFlow is neither the backend nor already imported, the block leaves it be.
    """
    import keras
    from keras.src.utils import rng_utils

    lazy = getattr(rng_utils, "tf", None)
    in_use = keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules
    if in_use or lazy is None or not hasattr(lazy, "_available"):  # Keras as it is
        yield
        return
    saved = lazy._available
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = saved
