"""Backend choice: environment wins, auto picks an installed backend, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fincast import backend


def test_environment_variable_wins(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backend.resolve_backend("tensorflow") == "jax"


def test_config_value_used_without_environment(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend.resolve_backend("tensorflow") == "tensorflow"


def test_unknown_backend_names_the_choices(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(backend.BackendError, match="'mxnet'.*auto, jax, tensorflow, torch"):
        backend.resolve_backend("mxnet")


def test_missing_backend_lists_installed_ones(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(backend, "installed_backends", lambda: ["jax", "tensorflow"])
    with pytest.raises(backend.BackendError) as raised:
        backend.resolve_backend("torch")
    message = str(raised.value)
    assert "'torch' is not installed" in message
    assert "installed backends: jax, tensorflow" in message
    assert "\n" not in message


def test_auto_prefers_fastest_cpu_backend(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(backend, "gpu_present", lambda: False)
    monkeypatch.setattr(backend, "installed_backends", lambda: ["jax", "tensorflow", "torch"])
    assert backend.resolve_backend("auto") == "tensorflow"
    monkeypatch.setattr(backend, "installed_backends", lambda: ["jax", "torch"])
    assert backend.resolve_backend("auto") == "jax"


def test_auto_prefers_a_gpu_ready_backend(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(backend, "gpu_present", lambda: True)
    monkeypatch.setattr(backend, "installed_backends", lambda: ["jax", "tensorflow", "torch"])
    monkeypatch.setattr(backend, "_jax_has_gpu_plugin", lambda: False)
    assert backend.resolve_backend("auto") == "torch"
    monkeypatch.setattr(backend, "_jax_has_gpu_plugin", lambda: True)
    assert backend.resolve_backend("auto") == "jax"


def test_installed_backends_sees_this_environment():
    assert {"jax", "tensorflow"} <= set(backend.installed_backends())


def test_cannot_switch_after_keras_is_imported(monkeypatch):
    import keras

    active = keras.backend.backend()
    other = "tensorflow" if active != "tensorflow" else "jax"
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(backend.BackendError, match="already running"):
        backend.select_backend(other)
    monkeypatch.setenv("KERAS_BACKEND", active)
    assert backend.select_backend("auto") == active


def test_describe_backend_lists_cpu_devices():
    info = backend.describe_backend("auto")
    assert info.devices and info.devices[0].startswith("CPU")
    assert info.as_tags()["backend"] == info.name
    assert not info.has_accelerator


def _fresh_process(code: str, extra_environment: dict[str, str] | None = None) -> list[str]:
    """Run ``code`` in a fresh interpreter with a bare environment; its stdout's words."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", **(extra_environment or {})},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("name", ["jax", "tensorflow"])
def test_selection_happens_before_keras_import(name, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    code = (
        "import fincast, sys; assert 'keras' not in sys.modules; "
        "from fincast.backend import describe_backend; "
        f"info = describe_backend('{name}'); import keras; "
        "print(keras.backend.backend(), info.devices[0])"
    )
    assert _fresh_process(code) == [name, "CPU:0"]


def _jax_device_count(extra_environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh process selects JAX as fincast's commands do; prints JAX's devices and flags."""
    code = (
        "from fincast.backend import select_backend; select_backend('jax'); "
        "import os, jax; print(jax.device_count(), os.environ.get('XLA_FLAGS', ''))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", **extra_environment},
    )


@pytest.mark.parametrize(("setting", "devices"), [("3", 3), ("1", 1)])
def test_jax_presents_the_cpu_as_host_devices(setting, devices):
    result = _jax_device_count({backend.HOST_DEVICES_VARIABLE: setting})
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[0]) == devices


def test_jax_host_devices_default_to_the_cores(monkeypatch):
    monkeypatch.delenv(backend.HOST_DEVICES_VARIABLE, raising=False)
    cores = len(os.sched_getaffinity(0))
    assert backend.jax_host_devices() == max(1, min(backend.MAX_HOST_DEVICES, cores))


def test_a_users_xla_device_count_is_kept():
    flags = "--xla_force_host_platform_device_count=1"
    result = _jax_device_count({"XLA_FLAGS": flags, backend.HOST_DEVICES_VARIABLE: "4"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", flags]


def test_no_flag_once_jax_is_running(monkeypatch):
    import jax  # noqa: F401  (this test process runs JAX already)

    monkeypatch.setenv(backend.HOST_DEVICES_VARIABLE, "4")
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert backend.configure_jax_host_devices() == 0
    assert "XLA_FLAGS" not in os.environ


def test_a_bad_host_device_setting_says_what_works(monkeypatch):
    monkeypatch.setenv(backend.HOST_DEVICES_VARIABLE, "two")
    with pytest.raises(backend.BackendError, match="'auto' or a whole number >= 1.*'two'"):
        backend.jax_host_devices()


def test_workers_learn_this_processes_device_count():
    code = (
        "from fincast.backend import active_host_devices; import sys; "
        "print(active_host_devices(), 'jax' in sys.modules)"
    )
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    for environment, expected in ((flags, ["3", "False"]), ({}, ["1", "False"])):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", **environment},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == expected


def test_a_running_jax_reports_its_own_devices():
    import jax

    assert backend.active_host_devices() == len(jax.devices("cpu"))


def _tensorflow_threads(extra_environment: dict[str, str]) -> list[str]:
    """A fresh process selects TensorFlow as fincast's commands do and runs a graph.

    Prints the two thread variables, then how many inter-op threads TensorFlow started
    (its threads named ``tf_Compute``).
    """
    code = (
        "from fincast.backend import select_backend; select_backend('tensorflow'); "
        "import os, tensorflow as tf; "
        "tf.function(lambda a: tf.matmul(a, a) + tf.matmul(2 * a, a))(tf.ones((64, 64))); "
        "names = [open(f'/proc/self/task/{task}/comm').read().strip() "
        "for task in os.listdir('/proc/self/task')]; "
        "print(os.environ.get('TF_NUM_INTRAOP_THREADS'), "
        "os.environ.get('TF_NUM_INTEROP_THREADS'), names.count('tf_Compute'))"
    )
    return _fresh_process(code, extra_environment)


@pytest.mark.skipif(backend.gpu_present(), reason="on a GPU machine TensorFlow keeps its threads")
def test_tensorflow_runs_one_single_threaded_op_per_core():
    cores = str(len(os.sched_getaffinity(0)))
    assert _tensorflow_threads({}) == ["1", cores, cores]


def test_a_users_tensorflow_threads_are_kept():
    assert _tensorflow_threads({"TF_NUM_INTEROP_THREADS": "3"}) == ["None", "3", "3"]
    assert _tensorflow_threads({"TF_NUM_INTRAOP_THREADS": "2"})[:2] == ["2", "None"]


def test_no_tensorflow_threads_once_tensorflow_is_running(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", sys)  # stands for an imported TensorFlow
    monkeypatch.delenv(backend.TF_INTRA_OP_VARIABLE, raising=False)
    monkeypatch.delenv(backend.TF_INTER_OP_VARIABLE, raising=False)
    assert not backend.configure_tensorflow_threads()
    assert backend.TF_INTRA_OP_VARIABLE not in os.environ
