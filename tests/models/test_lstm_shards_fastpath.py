"""The sharded PyTorch LSTM kernel equals one kernel call, in numbers and in gradients.

Pure PyTorch (no Keras backend needed): :mod:`fincast.models.lstm_fastpath` and
:mod:`fincast.models.lstm_shards_fastpath` import only torch. The Keras-level checks (FusedLSTM
trained through ``train_model`` with and without shards) run in the PyTorch worker of
``tests/speed/test_fast_paths.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from fincast.models import lstm_shards_fastpath  # noqa: E402
from fincast.models.lstm_fastpath import lstm_kernel  # noqa: E402

BATCH, STEPS, FEATURES, UNITS = 70, 9, 4, 6  # 70 rows in 3 shards: 24, 23, 23
ATOL = 1e-5


def _tensors(batch: int = BATCH) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)

    def normal(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=generator)).requires_grad_()

    return {
        "sequences": normal(batch, STEPS, FEATURES),
        "initial_h": normal(batch, UNITS),
        "initial_c": normal(batch, UNITS),
        "weight_ih": normal(4 * UNITS, FEATURES, scale=0.5),
        "weight_hh": normal(4 * UNITS, UNITS, scale=0.5),
        "bias": normal(4 * UNITS, scale=0.5),
    }


def _run(tensors: dict[str, torch.Tensor], shards: int) -> list[torch.Tensor]:
    """Outputs, last h and c, then the gradients of a loss w.r.t. every input."""
    zeros = torch.zeros(4 * UNITS)  # PyTorch's second bias, unused by Keras' LSTM
    weights = [tensors["weight_ih"], tensors["weight_hh"], tensors["bias"], zeros]
    states = tensors["sequences"], tensors["initial_h"], tensors["initial_c"]
    if shards == 1:
        results = lstm_kernel(*states, weights, True)
    else:
        results = lstm_shards_fastpath.sharded(lstm_kernel, shards, *states, weights)
    outputs, last_h, last_c = results
    loss = (outputs**2).mean() + torch.sin(3 * last_h).mean() + (last_c**3).mean()
    gradients = torch.autograd.grad(loss, list(tensors.values()))
    return [result.detach() for result in results] + list(gradients)


def _largest_gap(first: list[torch.Tensor], second: list[torch.Tensor]) -> float:
    """The largest difference, relative to the tensor's scale where that is over 1."""
    return max(
        float((one - two).abs().max()) / max(1.0, float(two.abs().max()))
        for one, two in zip(first, second, strict=True)
    )


@pytest.mark.parametrize("shards", [2, 3, 7])
def test_shards_give_one_calls_outputs_and_gradients(shards: int) -> None:
    tensors = _tensors()
    reference = _run(tensors, 1)
    sharded = _run(tensors, shards)
    outputs_gap = _largest_gap(reference[:3], sharded[:3])
    assert outputs_gap <= 1e-6, f"outputs differ by {outputs_gap:.3g}"
    gradient_gap = _largest_gap(reference[3:], sharded[3:])
    assert gradient_gap <= ATOL, f"gradients differ by {gradient_gap:.3g}"
    assert float(reference[3].abs().max()) > 1e-3  # the loss really reaches the inputs


def test_shards_are_deterministic() -> None:
    first = _run(_tensors(), 3)
    second = _run(_tensors(), 3)
    assert all(torch.equal(one, two) for one, two in zip(first, second, strict=True))


@pytest.fixture
def two_threads():
    """PyTorch on 2 threads for the test, whatever the machine's cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("two_threads")
def test_every_shard_runs_on_a_shard_worker() -> None:
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def spying_kernel(*arguments: object) -> tuple[torch.Tensor, ...]:
        with lock:
            seen.append((threading.current_thread().name, arguments[0].shape[0]))  # type: ignore[attr-defined]
        return lstm_kernel(*arguments)  # type: ignore[arg-type]

    tensors = _tensors()
    weights = [tensors["weight_ih"], tensors["weight_hh"], tensors["bias"], torch.zeros(24)]
    states = tensors["sequences"], tensors["initial_h"], tensors["initial_c"]
    lstm_shards_fastpath.sharded(spying_kernel, 3, *states, weights)
    assert sorted(rows for _, rows in seen) == [23, 23, 24]
    names = {name for name, _ in seen}  # a worker done early may take the next shard
    assert all(name.startswith("fincast-lstm-shard") for name in names), names


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_shards_without_gradients_give_the_same_outputs(mode: str) -> None:
    tensors = {name: tensor.detach() for name, tensor in _tensors().items()}
    weights = [tensors["weight_ih"], tensors["weight_hh"], tensors["bias"], torch.zeros(24)]
    states = tensors["sequences"], tensors["initial_h"], tensors["initial_c"]
    context = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
    with context:
        expected = lstm_kernel(*states, weights, False)
        actual = lstm_shards_fastpath.sharded(lstm_kernel, 3, *states, weights)
    assert _largest_gap(list(expected), list(actual)) <= 1e-6
    assert not any(result.requires_grad for result in actual)


def test_inputs_without_gradients_get_none_and_the_rest_are_right() -> None:
    tensors = _tensors()
    tensors["initial_h"] = tensors["initial_h"].detach()  # e.g. Keras' zero initial state
    tensors["initial_c"] = tensors["initial_c"].detach()
    learnable = [name for name, tensor in tensors.items() if tensor.requires_grad]
    zeros = torch.zeros(4 * UNITS)
    weights = [tensors["weight_ih"], tensors["weight_hh"], tensors["bias"], zeros]
    states = tensors["sequences"], tensors["initial_h"], tensors["initial_c"]
    expected_outputs = lstm_kernel(*states, weights, True)[0]
    expected = torch.autograd.grad(expected_outputs.sum(), [tensors[n] for n in learnable])
    actual_outputs = lstm_shards_fastpath.sharded(lstm_kernel, 2, *states, weights)[0]
    actual = torch.autograd.grad(actual_outputs.sum(), [tensors[n] for n in learnable])
    assert _largest_gap(list(expected), list(actual)) <= ATOL


def _count(batch: int, steps: int = 2, units: int = 8, train: bool = True) -> int:
    return lstm_shards_fastpath.shard_count(torch.zeros(batch, steps, 1), units, train)


def test_auto_gives_a_shard_per_thread_of_at_least_32_rows(monkeypatch) -> None:
    monkeypatch.delenv(lstm_shards_fastpath.SHARDS_VARIABLE, raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert _count(256) == 4
    assert _count(100) == 3  # 100 // 32
    assert _count(63) == 1
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert _count(256) == 1


@pytest.mark.parametrize(
    ("threads", "batch", "steps", "units", "train", "expected"),
    [
        (1, 256, 60, 64, True, 2),  # 60 MiB of training memory: two pieces of 128
        (1, 256, 60, 64, False, 1),  # 15 MiB without what the backward pass keeps
        (1, 128, 60, 64, True, 1),
        (2, 256, 120, 128, True, 8),  # 240 MiB: 8 pieces of 32 on 2 threads
        (2, 1024, 120, 128, False, 8),
        (4, 256, 60, 64, True, 4),  # the threads ask for more than the memory does
        (1, 256, 2000, 512, True, 1),  # not even 4 windows fit: pieces would not help
    ],
)
def test_auto_keeps_each_shards_kernel_memory_under_the_limit(
    monkeypatch, threads: int, batch: int, steps: int, units: int, train: bool, expected: int
) -> None:
    monkeypatch.delenv(lstm_shards_fastpath.SHARDS_VARIABLE, raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    shards = lstm_shards_fastpath.planned_shards(batch, steps, units, train)
    assert shards == expected
    assert _count(batch, steps, units, train) == expected  # a tensor of that shape agrees
    per_window = steps * units * (64 if train else 16)
    if shards > threads:  # pieces for the memory: the largest fits under 31 MiB
        assert -(-batch // shards) * per_window <= 31 * 2**20


@pytest.mark.parametrize(("threads", "where"), [(2, "fincast-lstm-shard"), (1, "MainThread")])
def test_more_shards_than_threads_give_one_calls_numbers(threads: int, where: str) -> None:
    """5 pieces on 2 worker threads, or on the calling thread alone where PyTorch has 1."""
    seen: list[str] = []

    def spying_kernel(*arguments: object) -> tuple[torch.Tensor, ...]:
        seen.append(threading.current_thread().name)
        return lstm_kernel(*arguments)  # type: ignore[arg-type]

    tensors = _tensors()
    reference = _run(tensors, 1)
    weights = [tensors["weight_ih"], tensors["weight_hh"], tensors["bias"], torch.zeros(24)]
    states = tensors["sequences"], tensors["initial_h"], tensors["initial_c"]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = lstm_shards_fastpath.sharded(spying_kernel, 5, *states, weights)
        outputs, last_h, last_c = results
        loss = (outputs**2).mean() + torch.sin(3 * last_h).mean() + (last_c**3).mean()
        gradients = torch.autograd.grad(loss, list(tensors.values()))
    finally:
        torch.set_num_threads(before)
    sharded = [result.detach() for result in results] + list(gradients)
    assert _largest_gap(reference[:3], sharded[:3]) <= 1e-6
    assert _largest_gap(reference[3:], sharded[3:]) <= ATOL
    assert len(seen) == 5 and all(name.startswith(where) for name in seen), seen


def test_threads_to_shards_keeps_freed_memory_unless_sharding_is_off(monkeypatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(lstm_shards_fastpath, "keep_freed_memory", lambda: calls.append(True))
    monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, "1")
    with lstm_shards_fastpath.threads_to_shards():
        assert not calls
    monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, "auto")
    with lstm_shards_fastpath.threads_to_shards():
        assert calls == [True]


FAULTS_SCRIPT = """
import json, resource, sys
import torch
from fincast.models import lstm_shards_fastpath as shards
from fincast.models.lstm_fastpath import fused_lstm

torch.set_num_threads(1)
kept = shards.keep_freed_memory() if sys.argv[1] == "keep" else None
batch, steps, units = 256, 60, 64  # about 60 MiB of kernel memory a training batch
sequences = torch.randn(batch, steps, 4)
kernel = (0.1 * torch.randn(4, 4 * units)).requires_grad_()
recurrent_kernel = (0.1 * torch.randn(units, 4 * units)).requires_grad_()
zeros = torch.zeros(batch, units)

def step():
    last, _, _ = fused_lstm(
        sequences, zeros, zeros, kernel=kernel, recurrent_kernel=recurrent_kernel, bias=None,
        return_sequences=False,
    )
    last.sum().backward()

for _ in range(2):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
count = shards.shard_count(sequences, units, True)
print(json.dumps({"kept": kept, "faults": faults, "shards": count}))
"""


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


def _faults(how: str, **environment: str) -> dict[str, Any]:
    env = {**os.environ, "FINCAST_TORCH_LSTM_SHARDS": "auto", **environment}
    for name in (*lstm_shards_fastpath.MALLOC_VARIABLES, "GLIBC_TUNABLES"):
        if name not in environment:
            env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", FAULTS_SCRIPT, how], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc thresholds")
def test_kept_memory_spares_the_page_faults_of_every_batch() -> None:
    """60 MiB of kernel memory a batch, in 2 pieces, reused from one step to the next.

    Left to itself glibc may give it back and fault it in again at every step: 0 to
    11,000 page faults a step in our runs of this script, as its thresholds happened to
    move, so only the kept case is asserted.
    """
    kept = _faults("keep")
    assert kept["kept"] is True and kept["shards"] == 2
    assert kept["faults"] < 200, kept  # 60 MiB is 15,360 pages


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc thresholds")
@pytest.mark.parametrize(
    "environment",
    [
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
    ],
)
def test_a_users_malloc_settings_are_left_alone(environment: dict[str, str]) -> None:
    assert _faults("keep", **environment)["kept"] is False


def test_the_variable_forces_a_count_or_turns_sharding_off(monkeypatch) -> None:
    monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, "3")
    assert _count(10) == 3
    # never more shards than rows
    assert _count(2) == 2
    monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, "1")
    assert _count(256) == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_shard_setting_is_one_line_naming_what_works(monkeypatch, value: str) -> None:
    monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, value)
    with pytest.raises(ValueError, match="FINCAST_TORCH_LSTM_SHARDS") as error:
        _count(256)
    assert "\n" not in str(error.value) and "'auto'" in str(error.value)


def test_meta_tensors_and_traces_are_never_sharded(monkeypatch) -> None:
    monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, "4")
    assert lstm_shards_fastpath.shard_count(torch.zeros(256, 2, 1, device="meta"), 8, True) == 1
    counts: list[int] = []

    def record(sequences: torch.Tensor) -> torch.Tensor:
        counts.append(lstm_shards_fastpath.shard_count(sequences, UNITS, False))
        return sequences * 2

    torch.jit.trace(record, torch.zeros(256, 2, 1), check_trace=False)
    assert counts and set(counts) == {1}


def test_a_traced_lstm_computes_new_inputs(monkeypatch) -> None:
    """A trace records only its own thread: sharding inside it would freeze the outputs."""
    monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, "2")
    tensors = {name: tensor.detach() for name, tensor in _tensors().items()}
    weights = [tensors["weight_ih"], tensors["weight_hh"], tensors["bias"], torch.zeros(24)]

    def last_hidden(sequences: torch.Tensor) -> torch.Tensor:
        states = tensors["initial_h"], tensors["initial_c"]
        shards = lstm_shards_fastpath.shard_count(sequences, UNITS, False)
        if shards > 1:
            return lstm_shards_fastpath.sharded(lstm_kernel, shards, sequences, *states, weights)[1]
        return lstm_kernel(sequences, *states, weights, False)[1]

    with torch.inference_mode():
        traced = torch.jit.trace(last_hidden, tensors["sequences"], check_trace=False)
        other = torch.randn(tensors["sequences"].shape)
        assert torch.allclose(traced(other), last_hidden(other), atol=1e-6)


def test_threads_to_shards_hands_the_threads_over_and_restores_them(monkeypatch) -> None:
    monkeypatch.delenv(lstm_shards_fastpath.SHARDS_VARIABLE, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        failing = pytest.raises(RuntimeError, match="fit failed")
        with failing, lstm_shards_fastpath.threads_to_shards() as threads:
            assert threads == 2
            assert torch.get_num_threads() == 1
            assert _count(256) == 2
            raise RuntimeError("fit failed")
        assert torch.get_num_threads() == 2
        assert _count(256) == 2
        monkeypatch.setenv(lstm_shards_fastpath.SHARDS_VARIABLE, "1")
        with lstm_shards_fastpath.threads_to_shards() as threads:
            assert threads == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_stacked_sharded_layers_backpropagate_through_each_other() -> None:
    """Two LSTM layers, the second fed the first's sequence: gradients reach the inputs."""
    tensors = _tensors()
    zeros = torch.zeros(4 * UNITS)
    first_weights = [tensors["weight_ih"], tensors["weight_hh"], tensors["bias"], zeros]
    second_ih = (0.5 * torch.randn(4 * UNITS, UNITS)).requires_grad_()
    second_weights = [second_ih, tensors["weight_hh"], tensors["bias"], zeros]
    states = tensors["initial_h"], tensors["initial_c"]

    def two_layers(shards: int) -> list[torch.Tensor]:
        def layer(sequences: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
            if shards == 1:
                return lstm_kernel(sequences, *states, weights, True)[0]
            return lstm_shards_fastpath.sharded(lstm_kernel, shards, sequences, *states, weights)[0]

        outputs = layer(layer(tensors["sequences"], first_weights), second_weights)
        learnable = [tensors["sequences"], tensors["weight_ih"], second_ih, tensors["bias"]]
        return [outputs.detach(), *torch.autograd.grad((outputs**2).mean(), learnable)]

    assert _largest_gap(two_layers(1), two_layers(3)) <= ATOL
