"""Where per-segment work runs: in this process, on a pool of local processes, or on a Dask
cluster; results come back in submission order, with a bounded number in flight.

Every engine runs the same module-level functions on the same arguments, so the output does
not depend on the engine or the worker count (bit-exact). Local pools fork (where the
platform allows) after the parent has built the FSM coder tables, so workers share them
instead of rebuilding them. Dask (the optional extra `distributed`) is for pools beyond one
machine: tasks carry their data, not paths, so its workers need no shared disk.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from ..errors import HelixError

LOCAL_DASK = "local"  # --dask local: a LocalCluster of this machine's cores


def worker_count(workers: int | None) -> int:
    """Workers to use: `workers` if positive, else every core this process may run on."""
    if workers and workers > 0:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class _Deferred:
    """A task of the in-process engine: run when its result is asked for (so at most the
    in-flight bound of them are ever done and waiting)."""

    def __init__(self, fn: Callable, args: tuple):
        self._fn, self._args = fn, args

    def result(self) -> Any:
        return self._fn(*self._args)


class InlineEngine:
    """The caller's process: one worker, no pickling."""

    workers = 1

    def submit(self, fn: Callable, *args: Any) -> _Deferred:
        return _Deferred(fn, args)


@contextmanager
def segment_engine(workers: int | None = None, dask: str | None = None
                   ) -> Iterator[Any]:
    """An engine with `submit(fn, *args) -> future` (`.result()`): Dask's distributed
    scheduler at address `dask` (or a local cluster of `workers` processes for "local"),
    else a pool of `workers` local processes (every core by default; 1: this process)."""
    n = worker_count(workers)
    if dask:
        with _dask_client(dask, n) as client:
            yield client
    elif n == 1:
        yield InlineEngine()
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(n, mp_context=context) as pool:
            pool.workers = n  # type: ignore[attr-defined]
            yield pool


@contextmanager
def _dask_client(address: str, workers: int) -> Iterator[Any]:
    """A Dask client of the scheduler at `address`, or of a new local cluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise HelixError("--dask needs Dask's distributed scheduler: pip install "
                         "'helix-lightning[distributed]'") from None
    if address == LOCAL_DASK:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.workers = workers
            yield client
        return
    try:
        client = Client(address, timeout=30)
    except OSError as exc:
        raise HelixError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        client.workers = max(1, len(client.scheduler_info().get("workers", {})))
        yield client


def ordered_map(engine: Any, fn: Callable, tasks: Iterable[tuple], in_flight: int | None = None
                ) -> Iterator[Any]:
    """fn(*task) for each task on `engine`, yielded in task order; at most `in_flight` tasks
    (default two per worker) submitted and not yet yielded, so memory stays bounded however
    many tasks there are."""
    limit = in_flight or 2 * getattr(engine, "workers", 1)
    pending: deque[Future | _Deferred] = deque()
    for task in tasks:
        pending.append(engine.submit(fn, *task))
        if len(pending) >= limit:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()

