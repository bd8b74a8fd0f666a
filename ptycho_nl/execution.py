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

`executor.run(fn, jobs)` takes `(key, args)` pairs and yields `(key, fn(*args))` or
`(key, JobFailure)` in completion order. An exception in a job is that job's failure, never the
run's. A worker lost mid-job (killed, out of memory) reruns the lost work only: Dask reschedules
the tasks of a dead worker (up to `distributed.scheduler.allowed-failures` times, then
`KilledWorker`); the local pool, which dies as a whole, is restarted with the jobs that had not
finished (those running beside the lost one included), each at most `retries` more times.
Skipping, resuming and manifests are the caller's (`ptycho_nl.study.jobs.run_phase`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ptycho_nl.errors import PtychoError

Jobs = Iterable[tuple[str, tuple[Any, ...]]]
Outcome = tuple[str, Any]  # (key, result or JobFailure)


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
    try:
        return fn(*args)
    except Exception as exc:  # one failed job never stops the others
        if os.environ.get("PTYCHO_NL_DEBUG"):
            traceback.print_exc()
        return JobFailure(error_text(exc))


class Executor(Protocol):
    name: str
    slots: int  # jobs that run at the same time

    def run(self, fn: Callable[..., Any], jobs: Jobs) -> Iterator[Outcome]: ...


class SerialExecutor:
    """One job after another in this process (threads left as the caller set them)."""

    name = "serial"
    slots = 1

    def run(self, fn: Callable[..., Any], jobs: Jobs) -> Iterator[Outcome]:
        for key, args in jobs:
            yield key, _call(fn, args, None)


# Imported once by the fork server, so every worker starts with them (nothing here starts a
# thread: forking a process whose OpenMP threads run is what is unsafe).
PRELOAD = ("torch", "ptycho_nl.simulate", "skimage.data", "skimage.transform")
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
    _pool_context(threads or _threads_per_job(workers))


def _threads_per_job(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


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

    def run(self, fn: Callable[..., Any], jobs: Jobs) -> Iterator[Outcome]:
        todo, attempts = list(jobs), Counter[str]()
        while todo:
            lost = []
            for key, args, outcome in self._run_once(fn, todo):
                if outcome is None:
                    lost.append((key, args))
                else:
                    yield key, outcome
            todo = []
            for key, args in lost:
                attempts[key] += 1
                if attempts[key] > self.retries:
                    failure = f"WorkerLost: the worker died {attempts[key]} times"
                    yield key, JobFailure(failure, worker_lost=True)
                else:
                    todo.append((key, args))

    def _run_once(self, fn, todo) -> Iterator[tuple[str, tuple, Any]]:
        """Run `todo` in the pool; outcome None: lost with a broken pool (then replaced)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=self._context,
                initializer=_worker_init,
                initargs=(self.threads, dict(os.environ)),
            )
        running = {self._pool.submit(_call, fn, args, None): (key, args) for key, args in todo}
        broken = False
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                key, args = running.pop(fut)
                try:
                    yield key, args, fut.result()
                except BrokenProcessPool:
                    broken = True
                    yield key, args, None
                except Exception as exc:  # the result could not come back (pickling)
                    yield key, args, JobFailure(error_text(exc))
        if broken:
            self.close()


class DaskExecutor:
    """Jobs as Dask tasks on a distributed cluster; `client` is a `distributed.Client`."""

    name = "dask"

    def __init__(self, client: Any, threads: int | None):
        self.client, self.threads = client, threads
        self.slots = max(1, sum(client.nthreads().values()))

    def run(self, fn: Callable[..., Any], jobs: Jobs) -> Iterator[Outcome]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        token = uuid.uuid4().hex[:8]
        jobs = list(jobs)
        if not jobs:
            return
        # One `map`: the whole batch reaches the scheduler in one message, where a `submit`
        # per job sent one each (a phase of four tiny jobs: ~12 instead of ~20 ms here).
        submitted = self.client.map(
            _call,
            [fn] * len(jobs),
            [args for _, args in jobs],
            [self.threads] * len(jobs),
            key=[f"{key}-{token}" for key, _ in jobs],
            pure=False,
        )
        futures = {fut: key for fut, (key, _) in zip(submitted, jobs, strict=True)}
        try:
            # with_results: finished results come back in batches, not one round trip per job;
            # raise_errors=False: a task that errored (KilledWorker) comes back as its future.
            for fut, result in as_completed(futures, with_results=True, raise_errors=False):
                key = futures[fut]
                if fut.status == "error":
                    exc = fut.exception()
                    lost = isinstance(exc, KilledWorker)
                    failure = f"WorkerLost: {error_text(exc)}" if lost else error_text(exc)
                    result = JobFailure(failure, worker_lost=lost)
                yield key, result
        finally:
            # Released together once the batch is done: a release per finished job is a
            # message to the scheduler each, and the client spaces its messages 10 ms apart,
            # so the next batch's submission waited behind them (a phase of four no-op jobs:
            # 17 ms with a release per job, 11 ms like this).
            for fut in futures:
                fut.release()


# A LocalCluster shares this machine's cores with its jobs, so the background work Dask does
# in every worker and nanny (statistical profiler every 10 ms, event-loop ticks every 20 ms,
# memory and system monitors) is taken from the jobs. Measured on 2 cores: a fixed job ran
# 7-17% longer in a default worker than in a pool worker, 3-6% with these. Work stealing moves
# queued tasks between workers; a LocalCluster's tasks are queued on the scheduler instead.
LOCAL_CLUSTER_QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.scheduler.work-stealing": False,
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
    per_job = str(threads or _threads_per_job(dask_local))
    # What the nannies set in the environment before they spawn a worker: the math libraries'
    # thread count (read when the worker imports torch), and not Dask's default
    # MALLOC_TRIM_THRESHOLD_, which stops glibc from keeping freed memory and left study jobs
    # about 1.5x slower (their large temporaries faulted in again on every allocation). The
    # nannies set these in this process's environment too, so it is restored afterwards.
    environ = {name: per_job for name in (*THREAD_VARIABLES, "OPENBLAS_NUM_THREADS")}
    touched = (*environ, "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")
    with (
        _environment_restored(touched),
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ, **LOCAL_CLUSTER_QUIET}),
        LocalCluster(
            n_workers=dask_local,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
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
                executor.threads = _threads_per_job(executor.slots)
            yield executor
        return
    if workers <= 1:
        yield SerialExecutor()
        return
    per_job = threads or _threads_per_job(workers)
    pool = PoolExecutor(workers, per_job, retries)
    try:
        yield pool
    finally:
        pool.close()
