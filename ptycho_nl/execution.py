"""Where independent jobs run: one executor interface, three implementations.

`make_executor(workers, scheduler=, dask_local=)` is a context manager giving an `Executor`:

- `workers <= 1`: in this process, one job after another (`SerialExecutor`);
- `workers > 1`: a local pool of worker processes (`PoolExecutor`), no extra services; they
  fork from a server process that imported torch and the simulator once and started no
  threads (`forkserver`, where the platform has it; `spawn` elsewhere), so a pool starts in
  well under a second instead of every worker importing torch (about 2 s of CPU each);
- `scheduler="tcp://host:8786"`: an existing Dask scheduler (a batch cluster through
  dask-jobqueue, or `dask scheduler` + `dask worker`), or `dask_local=N`: a Dask `LocalCluster`
  of N one-thread worker processes started for the run (`DaskExecutor`). Dask is the optional
  extra `ptycho-nl[distributed]`, imported only here and only then.

`executor.run(fn, jobs)` takes `(key, args)` pairs, or a `JobQueue` that the caller may add
to while the run goes on, and yields `(key, fn(*args))` or `(key, JobFailure)` in completion
order. An exception in a job is that job's failure, never the
run's. A worker lost mid-job (killed, out of memory) reruns the lost work only: Dask reschedules
the tasks of a dead worker (up to `distributed.scheduler.allowed-failures` times, then
`KilledWorker`); the local pool, which dies as a whole, is restarted with the jobs that had not
finished (those running beside the lost one included), each at most `retries` more times.
Skipping, resuming and manifests are the caller's (`ptycho_nl.study.jobs.run_phases`).
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import os
import sys
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ptycho_nl.allocator import keep_freed_memory
from ptycho_nl.errors import PtychoError

Jobs = Iterable[tuple[str, tuple[Any, ...]]]
Outcome = tuple[str, Any]  # (key, result or JobFailure)
Queued = tuple[str, tuple[Any, ...], float]  # (key, args, priority) as a JobQueue gives it


class ExecutionError(PtychoError):
    """An executor could not start (no scheduler at the address, Dask not installed, ...)."""


@dataclass(frozen=True)
class JobFailure:
    """A job that raised (`error` is `Type: first line`) or whose worker was lost."""

    error: str
    worker_lost: bool = False


def error_text(exc: BaseException) -> str:
    """`Type: first line of the message`: one line for a manifest."""
    text = str(exc).strip()
    message = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _limit_threads(threads: int | None) -> None:
    """Cap a job's threads: the variables torch reads at import, and torch if already loaded."""
    if threads is None:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    if (torch := sys.modules.get("torch")) is not None:
        torch.set_num_threads(threads)


def _call(fn: Callable[..., Any], args: tuple[Any, ...], threads: int | None) -> Any:
    """Runs where the job runs: a job's exception becomes its JobFailure."""
    _limit_threads(threads)
    keep_freed_memory()  # once per process: jobs reuse their large temporaries (allocator.py)
    try:
        return fn(*args)
    except Exception as exc:  # one failed job never stops the others
        if os.environ.get("PTYCHO_NL_DEBUG"):
            traceback.print_exc()
        return JobFailure(error_text(exc))


class Executor(Protocol):
    name: str
    slots: int  # jobs that run at the same time

    def run(self, fn: Callable[..., Any], jobs: Jobs | JobQueue) -> Iterator[Outcome]: ...


class JobQueue:
    """The jobs of one `Executor.run`, which may grow while it runs: after an outcome comes
    back, the caller may `put` the jobs that outcome released, and the run takes them too (a
    study dispatches each job as soon as the jobs it needs are done, not phase by phase). The
    run ends when the queue is empty and no job is running.

    Jobs are taken highest `priority` first, in the order put among equals. Executors take
    only what they can start soon (the pool: a free worker's job and one more; Dask: its
    scheduler queues them by the same priority), so a long job released late still starts
    before the short jobs that were ready earlier."""

    def __init__(self, jobs: Jobs = (), on_take: Callable[[str], None] | None = None):
        self._heap: list[tuple[float, int, str, tuple[Any, ...]]] = []  # (-priority, order, ...)
        self._count = itertools.count()
        self._on_take = on_take  # told each key as an executor takes the job (its clock starts)
        for key, args in jobs:
            self.put(key, args)

    def put(self, key: str, args: tuple[Any, ...], priority: float = 0.0) -> None:
        heapq.heappush(self._heap, (-priority, next(self._count), key, args))

    def take(self, limit: int | None = None) -> list[Queued]:
        """The jobs waiting (at most `limit`) as (key, args, priority), highest priority
        first, out of the queue."""
        count = len(self._heap) if limit is None else max(0, min(limit, len(self._heap)))
        items = []
        for _ in range(count):
            negative, _, key, args = heapq.heappop(self._heap)
            items.append((key, args, -negative))
        if self._on_take is not None:
            for key, _, _ in items:
                self._on_take(key)
        return items

    def __len__(self) -> int:
        return len(self._heap)


# Jobs an executor hands over beyond one per slot: one, so a freed worker starts at once while
# this process books the outcome, and a job put later with a higher priority waits behind at
# most one lower one.
EXTRA_IN_FLIGHT = 1


def _queue(jobs: Jobs | JobQueue) -> JobQueue:
    return jobs if isinstance(jobs, JobQueue) else JobQueue(jobs)


class SerialExecutor:
    """One job after another in this process (threads left as the caller set them)."""

    name = "serial"
    slots = 1

    def run(self, fn: Callable[..., Any], jobs: Jobs | JobQueue) -> Iterator[Outcome]:
        queue = _queue(jobs)
        while len(queue):
            ((key, args, _),) = queue.take(1)  # one at a time: a job's clock starts as it does
            yield key, _call(fn, args, None)


# What study and shard jobs import (their functions import lazily, to keep the CLI quick),
# imported once by the fork server, so every pool worker starts with them, and by each Dask
# LocalCluster worker as it starts. Otherwise each worker's first job of a kind paid for it:
# 0.1 s in the first solver run (the solvers, rich's progress bar, scikit-image's metrics and
# registration), against 0.03 s for the next. Nothing here starts a thread (forking a process
# whose OpenMP threads run is what is unsafe).
PRELOAD = (
    "torch",
    "ptycho_nl.simulate",
    "skimage.data",
    "skimage.transform",
    "ptycho_nl.study.job_kinds",
    "ptycho_nl.study.compare",
    "ptycho_nl.gates.data_qc",
    "ptycho_nl.data.bridge",
    "ptycho_nl.recon.jobs",
    "ptycho_nl.recon.iterative",
    "ptycho_nl.recon.options",
    "ptycho_nl.train.loop",
    "ptycho_nl.evaluate.align",
    "ptycho_nl.evaluate.metrics",
    "ptycho_nl.evaluate.stats",
    "ptycho_nl.progress",
    "rich.progress",
    "scipy.fft",
    "scipy.ndimage",
    "skimage.metrics",
    "skimage.registration",
)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

# The threads per job the fork server was started for. Its math libraries take their thread
# count from the environment when torch is imported there; capping it later in the worker was
# not enough (measured: tiny study jobs 1.6x slower, 0.052 vs 0.033 s). A pool that wants
# another count spawns its workers instead. Process-wide because the fork server is.
_server_threads: dict[str, int] = {}


def _pool_context(threads: int) -> multiprocessing.context.BaseContext:
    """The fork server where the platform has one, started now for `threads` per job (so it
    imports while the caller goes on planning), else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    started = _server_threads.setdefault("threads", threads)
    if started != threads:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    from multiprocessing import forkserver

    with _environment_restored(THREAD_VARIABLES):
        os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
        forkserver.ensure_running()  # returns at once; the first worker waits for the preload
    return context


@contextmanager
def _environment_restored(names: Iterable[str]) -> Iterator[None]:
    """These variables of this process's environment as they were before the block."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_pool_server(workers: int, threads: int | None = None) -> None:
    """Start the fork server for a pool of `workers` now (it returns at once), so that it
    imports torch while the caller does its own imports and planning."""
    _pool_context(threads or threads_per_job(workers))


def threads_per_job(workers: int) -> int:
    """This machine's cores shared by `workers` parallel jobs, at most the user's own
    OMP_NUM_THREADS when it is set: two processes that each take every core spin against each
    other (measured: a PINN epoch 40 s instead of 2.6 s with two such studies on 2 cores)."""
    share = max(1, (os.cpu_count() or 1) // workers)
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return min(share, int(cap)) if cap.isdigit() and int(cap) > 0 else share


def _worker_init(threads: int, environ: dict[str, str]) -> None:
    """The pool's environment at its start (a forked worker has the fork server's, which may
    be older), then the thread cap."""
    os.environ.clear()
    os.environ.update(environ)
    _limit_threads(threads)


class PoolExecutor:
    """A pool of processes from `_pool_context` (never plain fork: forking after torch threads
    start is unsafe), kept from one `run` to the next: started once per executor."""

    name = "pool"

    def __init__(self, workers: int, threads: int, retries: int = 2):
        self.slots, self.threads, self.retries = workers, threads, retries
        self._pool: ProcessPoolExecutor | None = None
        self._context = _pool_context(threads)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, fn: Callable[..., Any], jobs: Jobs | JobQueue) -> Iterator[Outcome]:
        queue, attempts = _queue(jobs), Counter[str]()
        running: dict[Future, Queued] = {}
        while len(queue) or running:
            broken = self._submit(fn, queue, running)
            done = wait(running, return_when=FIRST_COMPLETED).done if running else set()
            lost: list[Queued] = []
            for item, outcome in self._collect(done, running):
                if outcome is None:
                    lost.append(item)
                else:
                    yield item[0], outcome
            if lost or broken:
                # The pool died as a whole: what still runs on it breaks too. A job that
                # finished just before keeps its result; the others are lost with it.
                for item, outcome in self._collect(wait(running).done, running):
                    if outcome is None:
                        lost.append(item)
                    else:
                        yield item[0], outcome
                self.close()
            for key, args, priority in lost:
                attempts[key] += 1
                if attempts[key] > self.retries:
                    failure = f"WorkerLost: the worker died {attempts[key]} times"
                    yield key, JobFailure(failure, worker_lost=True)
                else:
                    queue.put(key, args, priority)  # on a new pool, with the jobs waiting

    def _submit(self, fn, queue: JobQueue, running: dict[Future, Queued]) -> bool:
        """Hand the pool (started if need be) the queued jobs it can start soon: one per free
        worker and one more, so a worker never waits for this process and a job put later with
        a higher priority still goes first. True if the pool turned out broken, the jobs not
        handed over then back in the queue (none of them started)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=self._context,
                initializer=_worker_init,
                initargs=(self.threads, dict(os.environ)),
            )
        items = queue.take(self.slots + EXTRA_IN_FLIGHT - len(running))
        for i, item in enumerate(items):
            try:
                running[self._pool.submit(_call, fn, item[1], None)] = item
            except BrokenProcessPool:
                for key, args, priority in items[i:]:
                    queue.put(key, args, priority)
                return True
        return False

    @staticmethod
    def _collect(done, running: dict[Future, Queued]) -> Iterator[tuple[Queued, Any]]:
        """(item, outcome) of finished futures, taken out of `running`; outcome None: lost
        with a broken pool."""
        for fut in done:
            item = running.pop(fut)
            try:
                yield item, fut.result()
            except BrokenProcessPool:
                yield item, None
            except Exception as exc:  # the result could not come back (pickling)
                yield item, JobFailure(error_text(exc))


class DaskExecutor:
    """Jobs as Dask tasks on a distributed cluster; `client` is a `distributed.Client`."""

    name = "dask"

    def __init__(self, client: Any, threads: int | None):
        self.client, self.threads = client, threads
        self.slots = max(1, sum(client.nthreads().values()))

    def run(self, fn: Callable[..., Any], jobs: Jobs | JobQueue) -> Iterator[Outcome]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        queue, token = _queue(jobs), uuid.uuid4().hex[:8]
        keys: dict[Any, str] = {}

        def submit() -> list:
            # At most one task more than the cluster runs at once, like the pool: Dask assigns
            # ready tasks to a worker at once, even a busy one, so the two longest jobs of a
            # grid could queue on one worker while the other ran the short ones (measured: the
            # 1000-iteration grid of bench_dask.py took 1.61 s against the pool's 1.19 s).
            # One `map` per priority (the scheduler orders by it too): a batch reaches the
            # scheduler in one message, where a `submit` per job sent one each.
            submitted = []
            taken = queue.take(self.slots + EXTRA_IN_FLIGHT - len(keys))
            for priority, group in itertools.groupby(taken, key=lambda item: item[2]):
                items = list(group)
                futures = self.client.map(
                    _call,
                    [fn] * len(items),
                    [args for _, args, _ in items],
                    [self.threads] * len(items),
                    key=[f"{key}-{token}" for key, _, _ in items],
                    pure=False,
                    priority=priority,
                )
                keys.update({fut: key for fut, (key, _, _) in zip(futures, items, strict=True)})
                submitted += futures
            return submitted

        first = submit()
        if not first:
            return
        # with_results: finished results come back in batches, not one round trip per job;
        # raise_errors=False: a task that errored (KilledWorker) comes back as its future.
        completed = as_completed(first, with_results=True, raise_errors=False)
        done = []
        try:
            for fut, result in completed:
                key = keys.pop(fut)
                if fut.status == "error":
                    exc = fut.exception()
                    lost = isinstance(exc, KilledWorker)
                    failure = f"WorkerLost: {error_text(exc)}" if lost else error_text(exc)
                    result = JobFailure(failure, worker_lost=lost)
                done.append(fut)
                yield key, result
                if more := submit():  # what the caller released on this outcome
                    completed.update(more)
        finally:
            # Released together at the end: a release is a client message, the client spaces
            # its messages 10 ms apart, and a submission sent after a release waited behind it
            # (a phase of four no-op jobs: 17 ms with a release per job, 11 ms like this).
            for fut in (*done, *keys):
                fut.release()


# A LocalCluster shares this machine's cores with its jobs, so the background work Dask does
# in every worker and nanny (statistical profiler every 10 ms, event-loop ticks every 20 ms,
# memory and system monitors) is taken from the jobs. Measured on 2 cores: a fixed job ran
# 7-17% longer in a default worker than in a pool worker, 3-6% with these. Queued tasks are
# kept off busy workers by the executor's hold-back (`DaskExecutor.run`), not by Dask: a worker
# saturation of 1.0 (default 1.1: two tasks at once for a one-thread worker) applies only to
# the large batches Dask treats as root tasks, and with the hold-back there is nothing to steal.
LOCAL_CLUSTER_QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.scheduler.work-stealing": False,
    "distributed.scheduler.worker-saturation": 1.0,
}


@contextmanager
def _dask_client(
    scheduler: str | None, dask_local: int | None, timeout_s: float, threads: int | None
):
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExecutionError(
            "Dask is not installed: pip install 'ptycho-nl[distributed]'"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutionError(
                f"Dask scheduler {scheduler}: no answer within {timeout_s:g} s ({error_text(exc)})"
            ) from None
        with client:
            yield client
        return
    per_job = str(threads or threads_per_job(dask_local))
    # What the nannies set in the environment before they spawn a worker: the math libraries'
    # thread count (read when the worker imports torch), and not Dask's default
    # MALLOC_TRIM_THRESHOLD_, which stops glibc from keeping freed memory and left study jobs
    # about 1.5x slower (their large temporaries faulted in again on every allocation). The
    # nannies set these in this process's environment too, so it is restored afterwards.
    environ = {name: per_job for name in (*THREAD_VARIABLES, "OPENBLAS_NUM_THREADS")}
    touched = (*environ, "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")
    with (
        _environment_restored(touched),
        dask.config.set(
            {
                "distributed.nanny.pre-spawn-environ": environ,
                "distributed.worker.preload": list(PRELOAD),
                **LOCAL_CLUSTER_QUIET,
            }
        ),
        LocalCluster(
            n_workers=dask_local,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # Its plain HTTP routes (no dashboard) on a free local port, not on 8787, which
            # another cluster on the machine may hold (a warning each time, e.g. under pytest -n).
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster, timeout=timeout_s) as client,
    ):
        yield client


@contextmanager
def make_executor(
    workers: int = 1,
    *,
    scheduler: str | None = None,
    dask_local: int | None = None,
    threads: int | None = None,
    timeout_s: float = 10.0,
    retries: int = 2,
) -> Iterator[Executor]:
    """The executor for these options (module docstring). `threads`: per job in a worker
    (default: this machine's cores over the parallel jobs); `timeout_s`: to reach a scheduler."""
    if scheduler is not None and dask_local is not None:
        raise ExecutionError("give one of --scheduler ADDRESS or --dask-local N, not both")
    if dask_local is not None and dask_local < 1:
        raise ExecutionError(f"--dask-local {dask_local}: need at least 1 worker")
    if scheduler is not None or dask_local is not None:
        with _dask_client(scheduler, dask_local, timeout_s, threads) as client:
            executor = DaskExecutor(client, threads)
            if executor.threads is None:
                executor.threads = threads_per_job(executor.slots)
            yield executor
        return
    if workers <= 1:
        yield SerialExecutor()
        return
    per_job = threads or threads_per_job(workers)
    pool = PoolExecutor(workers, per_job, retries)
    try:
        yield pool
    finally:
        pool.close()
