"""Training precision and multi-device data parallelism, checked against the hardware.

``training.precision`` sets Keras' global dtype policy (float32, mixed_float16 or
mixed_bfloat16) while a model is built and trained; fincast's models keep their
input normalisation and output head in float32, so forecasts are full precision.
``training.distribution=data_parallel`` replicates the model on every device and
splits each batch between them (``keras.distribution.DataParallel``, JAX only).

What runs where (measured on a 2-core x86 CPU with keras 3.15.1: every model family,
point and quantile, trains and saves under all three precisions on JAX, TensorFlow
and PyTorch). Refused, with one line naming what works instead:

- ``mixed_bfloat16`` on an NVIDIA GPU below compute capability 8.0 (pre-Ampere GPUs
  have no bfloat16 arithmetic);
- ``mixed_float16`` on a TPU (TPUs compute in bfloat16);
- ``data_parallel`` on a backend other than JAX, or with fewer than two devices.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from fincast.specs import DISTRIBUTIONS, PRECISIONS

logger = logging.getLogger(__name__)

SIMULATE_DEVICES = (
    "FINCAST_JAX_HOST_DEVICES=2 (fincast's commands; outside them "
    "XLA_FLAGS=--xla_force_host_platform_device_count=2 before JAX starts)"
)


class HardwareError(ValueError):
    """The requested precision or distribution cannot run on this backend or hardware."""


@dataclass(frozen=True)
class Hardware:
    """What a precision or distribution choice depends on."""

    backend: str
    devices: tuple[str, ...]
    compute_capability: float | None = None

    @property
    def kind(self) -> str:
        """``gpu``, ``tpu`` or ``cpu``: the kind of the first accelerator, else ``cpu``."""
        kinds = {device.split(":")[0].lower() for device in self.devices}
        return next((kind for kind in ("gpu", "tpu") if kind in kinds), "cpu")

    @property
    def accelerators(self) -> tuple[str, ...]:
        """The devices a distribution would use: the accelerators, else the CPUs."""
        return tuple(d for d in self.devices if d.split(":")[0].lower() == self.kind)


def gpu_compute_capability() -> float | None:
    """The first NVIDIA GPU's compute capability (e.g. 9.0) from ``nvidia-smi``, if any."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
            timeout=20,
        ).stdout.split()
        return float(output[0]) if output else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def detect_hardware() -> Hardware:
    """The active Keras backend, its devices, and the GPU's compute capability."""
    from fincast.backend import list_devices

    backend = keras.backend.backend()
    devices = tuple(list_devices(backend))
    hardware = Hardware(backend, devices)
    if hardware.kind == "gpu":
        hardware = Hardware(backend, devices, gpu_compute_capability())
    return hardware


def check_precision(precision: str, hardware: Hardware) -> None:
    """Raise :class:`HardwareError` unless ``precision`` can run on ``hardware``."""
    if precision not in PRECISIONS:
        raise HardwareError(
            f"Unknown training.precision {precision!r}; choose one of {', '.join(PRECISIONS)}."
        )
    capability = hardware.compute_capability
    if precision == "mixed_bfloat16" and capability is not None and capability < 8.0:
        raise HardwareError(
            f"training.precision=mixed_bfloat16 needs an NVIDIA GPU of compute capability "
            f"8.0+ (Ampere or newer); this GPU has {capability}. Use mixed_float16 or float32."
        )
    if precision == "mixed_float16" and hardware.kind == "tpu":
        raise HardwareError(
            "training.precision=mixed_float16 does not run on TPUs; use mixed_bfloat16 or float32."
        )
    if precision != "float32" and hardware.kind == "cpu":
        logger.info("%s on CPU runs, but rarely faster than float32 there.", precision)


def check_distribution(distribution: str, hardware: Hardware) -> None:
    """Raise :class:`HardwareError` unless ``distribution`` can run on ``hardware``."""
    if distribution not in DISTRIBUTIONS:
        raise HardwareError(
            f"Unknown training.distribution {distribution!r}; "
            f"choose one of {', '.join(DISTRIBUTIONS)}."
        )
    if distribution == "none":
        return
    if hardware.backend != "jax":
        raise HardwareError(
            "training.distribution=data_parallel needs the JAX backend (Keras 3 distributes "
            f"on JAX only); this run uses {hardware.backend}. Use backend=jax or "
            "training.distribution=none."
        )
    if len(hardware.accelerators) < 2:
        raise HardwareError(
            "training.distribution=data_parallel needs 2 or more devices; JAX sees "
            f"{', '.join(hardware.devices) or 'none'}. Use training.distribution=none, or "
            f"simulate 2 CPU devices with {SIMULATE_DEVICES}."
        )


def check_hardware(precision: str, distribution: str) -> Hardware:
    """Detect the hardware and check both choices against it, before any data is loaded.

    Raises:
        HardwareError: either choice cannot run here.
    """
    hardware = detect_hardware()
    check_precision(precision, hardware)
    check_distribution(distribution, hardware)
    return hardware


@dataclass(frozen=True)
class HardwareSetup:
    """The precision and distribution a training runs under."""

    precision: str
    distribution: str
    devices: tuple[str, ...]

    @property
    def replicas(self) -> int:
        """Model copies training in parallel (1 without data parallelism)."""
        return len(self.devices) if self.distribution == "data_parallel" else 1

    def as_card(self) -> dict[str, Any]:
        """Card entries: precision, distribution and the devices used."""
        return {
            "precision": self.precision,
            "distribution": self.distribution,
            "devices": list(self.devices),
        }


@contextmanager
def training_hardware(
    precision: str = "float32", distribution: str = "none", hardware: Hardware | None = None
) -> Iterator[HardwareSetup]:
    """Build and train inside this block to use ``precision`` and ``distribution``.

    The global dtype policy is restored on exit, so later models (e.g. loaded for
    serving) are unaffected.

    Raises:
        HardwareError: the choice cannot run here; the message names what can.
    """
    hardware = hardware or detect_hardware()
    check_precision(precision, hardware)
    check_distribution(distribution, hardware)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        if distribution == "none":
            yield HardwareSetup(precision, distribution, hardware.devices[:1])
            return
        devices = keras.distribution.list_devices()
        data_parallel = keras.distribution.DataParallel(devices=devices)
        with data_parallel.scope():
            yield HardwareSetup(precision, distribution, tuple(devices))
    finally:
        keras.mixed_precision.set_global_policy(previous)


def active_replicas() -> int:
    """How many devices each batch is split across under the active distribution."""
    distribution = keras.distribution.distribution()
    if isinstance(distribution, keras.distribution.DataParallel):
        return int(np.prod(distribution.device_mesh.shape))
    return 1
