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

``auto`` also keeps each kernel call's working memory under 31 MiB, running a batch
in more pieces than threads where it would not fit (each thread runs its pieces one
after another), and :func:`threads_to_shards` has glibc keep freed memory for reuse
(:func:`keep_freed_memory`). glibc's ``malloc`` serves a block of 32 MiB or more with
its own ``mmap``, and gives freed memory back to the system: either way the kernel's
working memory (about 60 MiB a batch of 256 at lookback 60 and 64 units, 250 MiB at
lookback 120 and 128 units) was faulted in anew, page by page, at every step. Without
the faults the same training runs about 1.3-1.5x faster (``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import ctypes
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
# glibc's largest mmap threshold is 32 MiB; a kernel call stays a little under it.
WORKSPACE_LIMIT_BYTES = 31 * 2**20
# the kernel's working memory per (window, step, unit), measured with PyTorch 2.13 on
# oneDNN: about 62 bytes when it keeps what the backward pass needs, 16 otherwise
WORKSPACE_BYTES_TRAINING = 64
WORKSPACE_BYTES_INFERENCE = 16
MIN_PIECE_ROWS = 4  # below this a piece's products are too thin to be worth it
# glibc's mallopt parameters (malloc.h) and the values keep_freed_memory sets
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # the largest glibc accepts: its dynamic threshold's cap
TRIM_THRESHOLD_BYTES = 2**30
MALLOC_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")

Kernel = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
_in_shard = threading.local()
_reserved_threads = 0  # threads handed to the shards by threads_to_shards (0: none)
_freed_memory_kept = False  # keep_freed_memory has set glibc's thresholds


def shard_count(sequences: torch.Tensor, units: int, train: bool) -> int:
    """How many shards to run ``sequences (batch, time, features)`` in (1: no sharding).

    ``units`` is the LSTM's width and ``train`` whether the kernel keeps what the
    backward pass needs; see :func:`planned_shards`.
    """
    if (
        sequences.device.type != "cpu"
        or getattr(_in_shard, "active", False)
        or torch.jit.is_tracing()  # a trace records this thread's ops only
        or torch.compiler.is_compiling()
    ):
        return 1
    return planned_shards(int(sequences.shape[0]), int(sequences.shape[1]), units, train)


def planned_shards(batch: int, steps: int, units: int, train: bool) -> int:
    """Shards for a CPU batch of ``batch`` windows of ``steps`` steps into ``units`` units.

    ``FINCAST_TORCH_LSTM_SHARDS=N`` gives N (at most one a window). ``auto`` gives one
    shard a thread (each of at least :data:`MIN_SHARD_ROWS` windows, at most
    :data:`MAX_SHARDS`), or more where a shard's working memory would pass the limit
    (:func:`pieces_for_memory`).
    """
    setting = shard_setting()
    if setting is not None:
        return max(1, min(setting, batch))
    by_threads = max(1, min(worker_threads(), batch // MIN_SHARD_ROWS, MAX_SHARDS))
    return max(by_threads, pieces_for_memory(batch, steps, units, train))


def pieces_for_memory(batch: int, steps: int, units: int, train: bool) -> int:
    """The fewest pieces that keep each kernel call's working memory under the limit.

    1 where the whole batch fits, or where even :data:`MIN_PIECE_ROWS` windows would not.
    """
    per_window = steps * units * (WORKSPACE_BYTES_TRAINING if train else WORKSPACE_BYTES_INFERENCE)
    rows = WORKSPACE_LIMIT_BYTES // max(per_window, 1)
    if rows < MIN_PIECE_ROWS or batch <= rows:
        return 1
    return -(-batch // rows)


def worker_threads() -> int:
    """The threads the shards run on: those handed over by :func:`threads_to_shards`, or
    PyTorch's."""
    return _reserved_threads or torch.get_num_threads()


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

    Yields the threads the shards run on: 1, and PyTorch's threads unchanged, where
    PyTorch has one thread, a GPU is in use or ``FINCAST_TORCH_LSTM_SHARDS=1``. PyTorch's
    thread count is restored on the way out. Unless sharding is off, glibc is also told
    to keep freed memory for reuse (:func:`keep_freed_memory`).
    """
    global _reserved_threads
    threads = torch.get_num_threads()
    setting = shard_setting()
    if setting != 1 and not torch.cuda.is_available():
        keep_freed_memory()
    most = min(threads, MAX_SHARDS) if setting is None else min(threads, setting)
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


def keep_freed_memory() -> bool:
    """Have glibc keep the kernel's freed working memory for the next batch, for good.

    glibc's ``malloc`` gives memory back to the system once more than a threshold of it
    is free at the top of a heap, and serves blocks above a threshold that moves between
    128 KiB and 32 MiB with their own ``mmap``. Training frees and allocates a batch's
    LSTM working memory (tens to hundreds of MiB, in pieces under 32 MiB) at every step,
    and memory given back is faulted in again page by page: at lookback 120 and 128
    units, 30,000-50,000 page faults a batch. This fixes the ``mmap`` threshold at 32 MiB
    and the trim threshold at :data:`TRIM_THRESHOLD_BYTES`, for the rest of the process
    (glibc cannot say what they were). It does nothing, and returns False, on another C
    library or where the user set glibc's malloc variables (``MALLOC_TRIM_THRESHOLD_``,
    ``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES`` with a ``glibc.malloc`` tunable).
    """
    global _freed_memory_kept
    if _freed_memory_kept:
        return True
    if any(os.environ.get(name) for name in MALLOC_VARIABLES) or "glibc.malloc." in (
        os.environ.get("GLIBC_TUNABLES", "")
    ):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (ValueError, OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _freed_memory_kept = bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    return _freed_memory_kept


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
    """``function(index)`` for every shard, in shard order: on one worker thread per
    PyTorch thread (at most one per shard), or on this thread where PyTorch has one."""
    workers = min(shards, worker_threads())
    if workers == 1:
        _in_shard.active = True
        try:
            return [function(index) for index in range(shards)]
        finally:
            _in_shard.active = False

    def marked(index: int) -> Any:
        _in_shard.active = True
        return function(index)

    return list(_pool(workers).map(marked, range(shards)))


def _pool(workers: int) -> ThreadPoolExecutor:
    key = (os.getpid(), workers)  # a forked child has none of its parent's threads
    with _pools_lock:
        if key not in _pools:
            _pools[key] = _start_pool(workers)
        return _pools[key]


def _start_pool(workers: int) -> ThreadPoolExecutor:
    """``workers`` threads, each single-threaded in PyTorch, all started now."""
    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(
        workers, thread_name_prefix="fincast-lstm-shard", initializer=torch.set_num_threads,
        initargs=(1,),
    )  # fmt: skip
    started = threading.Barrier(workers)
    list(pool.map(lambda _: started.wait(timeout=60), range(workers)))
    # torch.set_num_threads(1) in a worker is also the default for threads started later:
    # set this thread's count again so that it stays the default.
    torch.set_num_threads(threads)
    return pool
