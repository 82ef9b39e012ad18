"""Run an LSTM kernel on shards of a batch side by side, one single-threaded call per core.

PyTorch's fused CPU LSTM splits each time step's small matrix products over its
threads: at fincast's sizes (a few hundred windows, 64 units, 60 steps) that uses two
cores poorly. Splitting the batch instead, one shard per thread and each shard's kernel
single-threaded, keeps every core on its own shard for the whole sequence, forwards
and backwards: on 2 cores, batch 256, training through Keras went from about 7,300 to
9,000 windows/s (``benchmarks/README.md`` has the full runs). Each sample's recurrence
is computed alone either way, so the outputs are the same numbers; weight gradients
are the sum of the shards' gradients, added in shard order (the same seed still gives
the same weights), equal to one call's within float32 round-off.

How many shards: ``FINCAST_TORCH_LSTM_SHARDS`` (``auto``, the default, or a whole
number; ``1`` turns sharding off). ``auto`` takes PyTorch's thread count, at most one
shard per 32 windows and at most 16 shards; GPU tensors, ``torch.jit`` traces and
``torch.compile`` graphs are never sharded (they record the calling thread only). Inside
:func:`threads_to_shards` (fincast's training wraps ``fit`` in it) the calling thread's
other PyTorch work runs single-threaded and its threads go to the shards: an idle
OpenMP thread of the caller otherwise spins for milliseconds after each parallel
operation, on a core a shard needs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch.autograd.function import once_differentiable

SHARDS_VARIABLE = "FINCAST_TORCH_LSTM_SHARDS"
MIN_SHARD_ROWS = 32
MAX_SHARDS = 16

Kernel = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
_in_shard = threading.local()
_reserved_threads = 0  # threads handed to the shards by threads_to_shards (0: none)


def shard_count(sequences: torch.Tensor) -> int:
    """How many shards to run ``sequences (batch, time, features)`` in (1: no sharding)."""
    if (
        sequences.device.type != "cpu"
        or getattr(_in_shard, "active", False)
        or torch.jit.is_tracing()  # a trace records this thread's ops only
        or torch.compiler.is_compiling()
    ):
        return 1
    batch = int(sequences.shape[0])
    setting = shard_setting()
    if setting is None:
        threads = _reserved_threads or torch.get_num_threads()
        return max(1, min(threads, batch // MIN_SHARD_ROWS, MAX_SHARDS))
    return max(1, min(setting, batch))


def shard_setting() -> int | None:
    """``FINCAST_TORCH_LSTM_SHARDS`` as a number, ``None`` for ``auto`` (or unset)."""
    setting = os.environ.get(SHARDS_VARIABLE, "auto").strip().lower()
    if setting == "auto":
        return None
    if not setting.isdigit() or int(setting) < 1:
        raise ValueError(
            f"{SHARDS_VARIABLE}={setting!r} is not a shard count: use 'auto' (one shard "
            "per PyTorch thread) or a whole number >= 1 (1 runs one kernel per batch)."
        )
    return int(setting)


@contextlib.contextmanager
def threads_to_shards() -> Iterator[int]:
    """Run this thread's PyTorch work single-threaded and give its threads to LSTM shards.

    Yields the most shards a batch is split into inside the block (under ``auto`` a
    batch gets fewer where it has under 32 windows a thread); 1, and nothing changed,
    where PyTorch has one thread, a GPU is in use or ``FINCAST_TORCH_LSTM_SHARDS=1``.
    PyTorch's thread count is restored on the way out.
    """
    global _reserved_threads
    threads = torch.get_num_threads()
    setting = shard_setting()
    most = min(threads, MAX_SHARDS) if setting is None else setting
    if most <= 1 or _reserved_threads or torch.cuda.is_available():
        yield 1
        return
    _reserved_threads = threads
    torch.set_num_threads(1)
    try:
        yield most
    finally:
        torch.set_num_threads(threads)
        _reserved_threads = 0


def sharded(
    kernel: Kernel,
    shards: int,
    sequences: torch.Tensor,
    initial_h: torch.Tensor,
    initial_c: torch.Tensor,
    weights: Sequence[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``kernel(sequences, initial_h, initial_c, weights, train)`` run shard by shard.

    ``kernel`` returns ``(outputs, last_h, last_c)``, each with the batch first. With
    gradients wanted, the shards' graphs are kept and their backward passes also run
    side by side.
    """
    tensors = (sequences, initial_h, initial_c, *weights)
    if torch.is_grad_enabled() and any(tensor.requires_grad for tensor in tensors):
        result: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = _ShardedLSTM.apply(
            kernel, shards, *tensors
        )
        return result
    inference = torch.is_inference_mode_enabled()
    batched = [torch.tensor_split(tensor, shards) for tensor in tensors[:3]]

    def run(index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.inference_mode(inference), torch.no_grad():
            return kernel(*(pieces[index] for pieces in batched), list(weights), False)

    results = _map(shards, run)
    return _concatenate(results)


class _ShardedLSTM(torch.autograd.Function):
    """Forward and backward of ``kernel`` on shards; gradients summed over the shards."""

    @staticmethod
    def forward(
        ctx: Any, kernel: Kernel, shards: int, *tensors: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        wanted = ctx.needs_input_grad[2:]
        batched = [torch.tensor_split(tensor, shards) for tensor in tensors[:3]]

        def run(index: int) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
            with torch.enable_grad():
                inputs = [pieces[index] for pieces in batched] + list(tensors[3:])
                leaves = [
                    tensor.detach().requires_grad_(needed)
                    for tensor, needed in zip(inputs, wanted, strict=True)
                ]
                return leaves, kernel(*leaves[:3], leaves[3:], True)

        ctx.shards = shards
        ctx.graphs = _map(shards, run)
        return _concatenate([outputs for _, outputs in ctx.graphs])

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *output_grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        graphs, shards = ctx.graphs, ctx.shards
        del ctx.graphs  # autograd.grad frees each shard's graph as its pass ends
        wanted = ctx.needs_input_grad[2:]
        grads_by_shard = [torch.tensor_split(grad, shards) for grad in output_grads]

        def run(index: int) -> tuple[torch.Tensor, ...]:
            leaves, outputs = graphs[index]
            return torch.autograd.grad(
                outputs,
                [leaf for leaf, needed in zip(leaves, wanted, strict=True) if needed],
                [grads[index] for grads in grads_by_shard],
            )

        per_shard = _map(shards, run)
        combined: list[torch.Tensor | None] = []
        position = 0
        for slot, needed in enumerate(wanted):
            if not needed:
                combined.append(None)
                continue
            grads = [shard_grads[position] for shard_grads in per_shard]
            position += 1
            batch_sliced = slot < 3  # sequences, initial h and c: cut by rows; weights: shared
            combined.append(
                torch.cat(grads) if batch_sliced else functools.reduce(torch.add, grads)
            )
        return (None, None, *combined)


def _concatenate(
    results: Sequence[tuple[torch.Tensor, ...]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    outputs, last_h, last_c = (
        torch.cat([result[index].detach() for result in results]) for index in range(3)
    )
    return outputs, last_h, last_c


def _map(shards: int, function: Callable[[int], Any]) -> list[Any]:
    """``function(index)`` for every shard, on the shard workers, in shard order."""

    def marked(index: int) -> Any:
        _in_shard.active = True
        return function(index)

    return list(_pool(shards).map(marked, range(shards)))


def _pool(shards: int) -> ThreadPoolExecutor:
    key = (os.getpid(), shards)  # a forked child has none of its parent's threads
    with _pools_lock:
        if key not in _pools:
            _pools[key] = _start_pool(shards)
        return _pools[key]


def _start_pool(shards: int) -> ThreadPoolExecutor:
    """``shards`` worker threads, each single-threaded in PyTorch, all started now."""
    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(
        shards, thread_name_prefix="fincast-lstm-shard", initializer=torch.set_num_threads,
        initargs=(1,),
    )  # fmt: skip
    started = threading.Barrier(shards)
    list(pool.map(lambda _: started.wait(timeout=60), range(shards)))
    # torch.set_num_threads(1) in a worker is also the default for threads started later:
    # set this thread's count again so that it stays the default.
    torch.set_num_threads(threads)
    return pool
