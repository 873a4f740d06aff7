"""Where ingest's tasks run: this machine's cores (`local`) or a Ray cluster (`ray`).

An engine only maps a function over jobs: `engine.map(fn, shared, jobs)` yields `fn(shared, job)` for
every job, in any order. The ingest logic (steps, dedup, shard writing) is the same code for both, and
every result is sorted by the caller, so the engine and the number of workers never change an output
byte. `shared` is what every job reads (params, the spill folder): sent once per worker process
(local) or put once in Ray's object store.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from cptpipe.errors import UserError
from cptpipe.params import IngestParams

Task = Callable[[Any, Any], Any]
MAX_LOCAL_WORKERS = 64


class LocalEngine:
    """A process pool on this machine; inline (no pool) for one worker or when the caller says the work is small."""

    name = "local"

    def __init__(self, workers: int | None):
        self.workers = min(workers or os.cpu_count() or 1, MAX_LOCAL_WORKERS)

    def map(self, fn: Task, shared: Any, jobs: Sequence, small: bool = False) -> Iterator[Any]:
        if self.workers == 1 or small or len(jobs) < 2:
            yield from (fn(shared, job) for job in jobs)
            return
        ctx = mp.get_context(_start_method())
        with ProcessPoolExecutor(
            min(self.workers, len(jobs)), mp_context=ctx, initializer=_share, initargs=(shared,)
        ) as pool:
            futures = [pool.submit(_call_shared, fn, job) for job in jobs]
            try:
                yield from (f.result() for f in as_completed(futures))
            finally:
                for f in futures:
                    f.cancel()


_SHARED: list = [None]


def _share(shared: Any) -> None:
    _SHARED[0] = shared


def _call_shared(fn: Task, job: Any) -> Any:
    return fn(_SHARED[0], job)


def _start_method() -> str:
    # fork where it exists: workers need no re-import of the caller's script (spawn re-runs an
    # unguarded script in every worker). ProcessPoolExecutor, unlike Pool, fails fast instead of
    # respawning workers forever if one dies while starting.
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"


class RayEngine:
    """Ray tasks, one CPU each; `small` is ignored (a cluster has no cheaper inline path worth a second code path)."""

    name = "ray"

    def __init__(self, ray_module: Any):
        self.ray = ray_module
        self.workers = int(ray_module.cluster_resources().get("CPU", 1))
        self._remote = ray_module.remote(num_cpus=1)(_call)

    def map(self, fn: Task, shared: Any, jobs: Sequence, small: bool = False) -> Iterator[Any]:
        ref = self.ray.put(shared)
        pending = [self._remote.remote(fn, ref, job) for job in jobs]
        try:
            while pending:
                done, pending = self.ray.wait(pending, num_returns=1)
                yield self.ray.get(done[0])
        finally:
            for p in pending:
                self.ray.cancel(p)


def _call(fn: Task, shared: Any, job: Any) -> Any:
    return fn(shared, job)


@contextmanager
def open_engine(params: IngestParams) -> Iterator[LocalEngine | RayEngine]:
    """The engine ingest.engine names; with ray, join ingest.ray_address or RAY_ADDRESS, a runtime this
    process already started (tests), or start a local one with ingest.workers CPUs for this stage only."""
    if params.engine == "local":
        yield LocalEngine(params.workers)
        return
    try:
        import ray
    except ImportError as e:
        raise UserError(
            'ingest.engine is ray but ray is not installed; pip install -e ".[ray]", or set ingest.engine: local'
        ) from e
    started = False
    if not ray.is_initialized():
        address = params.ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a private runtime: gone when the stage ends
            ray.init(num_cpus=params.workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        yield RayEngine(ray)
    finally:
        if started:
            ray.shutdown()


@contextmanager
def cluster_engine(params: IngestParams) -> Iterator[RayEngine | None]:
    """The Ray engine when ingest.engine is ray, else None: for stages (tokenize, qa) whose work runs
    in one process locally (faster there than a process pool) and moves to the cluster only with ray."""
    if params.engine != "ray":
        yield None
        return
    with open_engine(params) as engine:
        yield engine
