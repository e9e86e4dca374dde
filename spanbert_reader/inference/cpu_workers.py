"""CPU thread policy: a batch's windows run as several single-threaded forward passes side by side.

One forward pass on torch's intra-op thread pool ends every operator at a barrier that waits for the slowest
thread; when another process holds one of the cores, each barrier waits for a thread that is not running, and
throughput collapses (measured in BENCHMARKS.md, "Reader on CPU under load"). Independent single-threaded passes,
one per worker thread, have no such barrier: a worker that loses its core only slows itself. On a quiet machine
the two are about as fast.

While any reader runs its workers, torch's intra-op thread count is 1 for the whole process (torch has no
per-thread setting); the count in force before is restored when the last such call ends, and is what
:func:`worker_count` reports meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

import torch

from spanbert_reader.inference.settings import checked_int

T = TypeVar("T")

_lock = threading.Lock()
_active = 0
_saved_threads = 0
_pools: dict[int, ThreadPoolExecutor] = {}


def worker_count(requested: int | None = None) -> int:
    """Workers to use: ``requested``, else torch's intra-op thread count (as set before any worker call)."""
    if requested is not None:
        checked_int("cpu_workers", requested, 1)
        return requested
    with _lock:
        return _saved_threads if _active else torch.get_num_threads()


@contextmanager
def single_threaded_ops():
    """Inside: torch runs each operator on the calling thread (restored when the last nested user leaves)."""
    global _active, _saved_threads
    with _lock:
        if _active == 0:
            _saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                torch.set_num_threads(_saved_threads)


def balanced_split(lengths: Sequence[int], parts: int) -> list[list[int]]:
    """Indices split into at most ``parts`` groups of about equal total length (longest first, each to the
    lightest group); each group keeps its indices longest first. Empty groups are dropped."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(parts, len(lengths))))]
    loads = [0] * len(groups)
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        lightest = loads.index(min(loads))
        groups[lightest].append(index)
        loads[lightest] += lengths[index]
    return [g for g in groups if g]


def run_parallel(tasks: Sequence[Callable[[], T]], workers: int) -> list[T]:
    """Run ``tasks`` on ``workers`` threads with single-threaded torch operators; results in task order."""
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="spanbert-cpu")
    with single_threaded_ops():
        futures = [pool.submit(task) for task in tasks]
        wait(futures)  # every task has ended before the thread count is restored, even when one failed
    error = next((e for e in (f.exception() for f in futures) if e is not None), None)
    if error is None:
        return [f.result() for f in futures]
    futures.clear()  # the failed tasks' frames (a failed batch's activations) go with the one error raised
    try:
        raise error
    finally:
        del error  # no cycle error -> traceback -> this frame -> error: memory is freed when the caller drops it


__all__ = ["balanced_split", "run_parallel", "single_threaded_ops", "worker_count"]
