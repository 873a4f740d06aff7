"""Where ingest's tasks run: this machine's cores (`local`) or a Ray cluster (`ray`).

An engine only maps a function over jobs: `engine.map(fn, shared, jobs)` yields `fn(shared, job)` for
every job, in any order. The ingest logic (steps, dedup, shard writing) is the same code for both, and
every result is sorted by the caller, so the engine and the number of workers never change an output
byte. `shared` is what every job reads (params, the spill folder): sent with each worker process
(local) or put once in Ray's object store.

Locally every task runs in a fresh process, so a task's memory is its own partition's: in a reused
worker a later task started from what earlier ones left (183-218 MB, malloc_trim or not), so the largest
worker grew with the number of tasks, that is with the corpus. A fresh process also makes its peak RSS
(ru_maxrss) that one task's, which `peaks` records per task function.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from cptpipe.errors import UserError
from cptpipe.params import IngestParams

Task = Callable[[Any, Any], Any]
MAX_LOCAL_WORKERS = 64


class LocalEngine:
    """A process pool on this machine, a fresh process per task; inline (no pool) for one worker or when the
    caller says the work is small; workers that run many tasks when it says the tasks are light."""

    name = "local"

    def __init__(self, workers: int | None):
        self.workers = min(workers or os.cpu_count() or 1, MAX_LOCAL_WORKERS)
        self.peaks: dict[str, TaskPeak] = {}  # task function name -> its pooled tasks

    def map(self, fn: Task, shared: Any, jobs: Sequence, small: bool = False, light: bool = False) -> Iterator[Any]:
        """`light`: tasks too small for what a worker keeps between them to matter; a process per task
        (~50 ms to start and join here) would cost more than they do."""
        if self.workers == 1 or small or len(jobs) < 2:
            yield from (fn(shared, job) for job in jobs)
            return
        ctx = mp.get_context(_start_method())
        if ctx.get_start_method() == "forkserver" and fn.__module__ != "__main__":
            # the server imports the task's module (numpy, pyarrow, the ingest code) once, when it starts;
            # a task's process forks from it in ~10 ms instead of importing them again (~1 s). Not
            # "__main__": its children ran it again anyway (0.6 s each for a script importing pyarrow)
            ctx.set_forkserver_preload([fn.__module__])
        peak = self.peaks.setdefault(fn.__name__, TaskPeak())
        with ProcessPoolExecutor(
            min(self.workers, len(jobs)),
            mp_context=ctx,
            initializer=_share,
            initargs=(shared,),
            max_tasks_per_child=None if light else 1,
        ) as pool:
            futures = [pool.submit(_call_shared, fn, job) for job in jobs]
            try:
                for f in as_completed(futures):
                    result, rss, cpu_s = f.result()
                    peak.add(rss, cpu_s)
                    yield result
            finally:
                for f in futures:
                    f.cancel()


class TaskPeak:
    """One task function's pooled tasks: how many, the largest peak RSS of the process that ran one (a
    fresh process: that task's own peak, imports included), and their CPU seconds."""

    def __init__(self) -> None:
        self.tasks, self.rss, self.cpu_s = 0, 0, 0.0

    def add(self, rss: int, cpu_s: float) -> None:
        self.tasks, self.rss, self.cpu_s = self.tasks + 1, max(self.rss, rss), self.cpu_s + cpu_s

    def as_dict(self) -> dict:
        return {"tasks": self.tasks, "peak_rss_mb": round(self.rss / 2**20, 1), "cpu_s": round(self.cpu_s, 2)}


_SHARED: list = [None]


def _share(shared: Any) -> None:
    _SHARED[0] = shared


def _call_shared(fn: Task, job: Any) -> tuple[Any, int, float]:
    """The task's result, its process's peak RSS in bytes and the task's CPU seconds."""
    before = _cpu_seconds()
    result = fn(_SHARED[0], job)
    cpu_s = _cpu_seconds() - before
    # ru_maxrss is in KB on Linux, in bytes on macOS
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024), cpu_s


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _start_method() -> str:
    # forkserver where it exists: a process per task needs a start method that ProcessPoolExecutor may
    # use while its threads run (not fork), and forking from a server that imported the code once costs
    # milliseconds, not a re-import. ProcessPoolExecutor, unlike Pool, fails fast instead of respawning
    # workers forever if one dies while starting.
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


class RayEngine:
    """Ray tasks, one CPU each; `small` and `light` are ignored (a cluster has no cheaper inline path worth a
    second code path; Ray reuses its worker processes)."""

    name = "ray"

    def __init__(self, ray_module: Any):
        self.ray = ray_module
        self.workers = int(ray_module.cluster_resources().get("CPU", 1))
        self.peaks: dict[str, TaskPeak] = {}  # none: Ray reuses a worker process, so its peak is not one task's
        self._remote = ray_module.remote(num_cpus=1)(_call)

    def map(self, fn: Task, shared: Any, jobs: Sequence, small: bool = False, light: bool = False) -> Iterator[Any]:
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
