"""A generic runner of job phases: manifests, skip/resume, failure isolation, worker processes.

A phase (`Phase`: a key, a title, the directory its jobs write under) is a list of independent
jobs. A job applies a `JobKind` (a name, a function `fn(ctx) -> JobOutput`, the pydantic model
of its parameters) to typed parameters and input files. The runner:

- computes an input digest from the kind's name, the parameters and the SHA-256 of the inputs;
- skips a job whose previous record completed with the same digest and whose outputs still
  have their recorded hashes (status `skipped`), unless `force`;
- records every other job as `completed` or `failed` (the error text kept, the phase goes on);
- rewrites the phase manifest atomically after every job, so an interrupted run resumes;
- records each job's compute (`ptycho_nl.compute.ComputeRecord`, measured where it ran).

Where the jobs run is an executor's business (`ptycho_nl.execution`: in this process, a local
process pool, or Dask); the semantics above are the same on each.
It knows no particular study: phases, job kinds and their parameters come from the caller.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from ptycho_nl.compute import ComputeRecord, measure
from ptycho_nl.config import config_digest
from ptycho_nl.execution import (
    Executor,
    JobFailure,
    JobQueue,
    error_text,
    make_executor,
    threads_per_job,
)
from ptycho_nl.io_utils import atomic_write_text, sha256_file

JobStatus = Literal["completed", "failed", "skipped"]
P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class Phase:
    """A phase: `key` names its manifest (`manifests/phase_{key}.json`) and prefixes its job
    ids; its jobs write under `{dirname}/{job_id}/` in the study directory."""

    key: str
    title: str
    dirname: str

    def job_id(self, *parts: str) -> str:
        return "-".join((self.key, *parts))

    def job_dir(self, job_id: str) -> str:
        """The study-relative directory a job of this phase writes into."""
        return f"{self.dirname}/{job_id}"


class FileRef(BaseModel):
    """A file a job read or wrote, relative to the study directory."""

    path: str
    sha256: str
    size_bytes: int


class JobRecord(BaseModel):
    """One job's entry in its phase manifest."""

    job_id: str
    phase: str
    kind: str = Field("", description="The JobKind name (empty in manifests from before kinds).")
    status: JobStatus
    error: str | None = None
    input_digest: str
    config_digest: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, FileRef] = Field(default_factory=dict)
    outputs: dict[str, FileRef] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    started_at: str
    finished_at: str
    duration_s: float
    job_dir: str | None = Field(None, description="Study-relative directory the job wrote in.")
    compute: ComputeRecord | None = Field(
        None, description="What running the job cost, where it ran (None: it did not run)."
    )


class PhaseManifest(BaseModel):
    """`manifests/phase_{key}.json`: every job of one phase, in the caller's order."""

    phase: str
    title: str
    study_digest: str
    updated_at: str
    jobs: dict[str, JobRecord] = Field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {"completed": 0, "failed": 0, "skipped": 0}
        for job in self.jobs.values():
            out[job.status] += 1
        return out


@dataclass(frozen=True)
class JobContext(Generic[P]):
    """What a job function sees: its typed parameters, resolved input paths, its own directory."""

    study_dir: Path
    job_id: str
    params: P
    inputs: dict[str, Path]
    out_dir: Path
    threads: int

    def rel(self, path: str | Path) -> str:
        """`path` relative to the study directory (how outputs are declared)."""
        return Path(path).relative_to(self.study_dir).as_posix()


class JobOutput(BaseModel):
    """What a job function returns: its files (name -> study-relative path) and metrics."""

    outputs: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    config_digest: str | None = None


@dataclass(frozen=True)
class JobKind(Generic[P]):
    """A kind of job: `name` goes into the manifest and the input digest; `fn` must be a
    module-level function (it is pickled by reference into worker processes)."""

    name: str
    fn: Callable[[JobContext[P]], JobOutput]
    params: type[P]


@dataclass(frozen=True)
class Job:
    """A unit of work: `inputs` map names to study-relative paths; `requires` are job ids (any
    phase) that must have succeeded first. `cost` is its estimated run time in seconds (the
    planner's), which only orders ready jobs (`critical_path_priorities`); it is not part of
    the job's input digest."""

    job_id: str
    kind: JobKind
    params: BaseModel
    inputs: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    cost: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.params, self.kind.params):
            raise TypeError(
                f"job {self.job_id}: kind {self.kind.name!r} takes "
                f"{self.kind.params.__name__}, got {type(self.params).__name__}"
            )


@dataclass(frozen=True)
class _Pending:
    job: Job
    digest: str
    inputs: dict[str, FileRef]
    ctx: JobContext


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_ref(study_dir: Path, rel: str) -> FileRef:
    path = study_dir / rel
    return FileRef(path=rel, sha256=sha256_file(path), size_bytes=path.stat().st_size)


def manifest_path(study_dir: Path, key: str) -> Path:
    return study_dir / "manifests" / f"phase_{key}.json"


def load_manifest(study_dir: Path, key: str) -> PhaseManifest | None:
    """The manifest of the phase with this key, or None if it has not run."""
    path = manifest_path(study_dir, key)
    if not path.exists():
        return None
    return PhaseManifest.model_validate_json(path.read_text(encoding="utf-8"))


def _save(study_dir: Path, manifest: PhaseManifest) -> None:
    manifest.updated_at = _now()
    atomic_write_text(
        manifest_path(study_dir, manifest.phase), manifest.model_dump_json(indent=2) + "\n"
    )


def _outputs_intact(study_dir: Path, record: JobRecord) -> bool:
    for ref in record.outputs.values():
        path = study_dir / ref.path
        if (
            not path.exists()
            or path.stat().st_size != ref.size_bytes
            or sha256_file(path) != ref.sha256
        ):
            return False
    return True


@dataclass(frozen=True)
class _Ran:
    """What came back from where a job ran: its output or its error, and what it cost."""

    output: JobOutput | None
    error: str | None
    compute: ComputeRecord


def _execute(kind: JobKind, ctx: JobContext) -> _Ran:
    """Runs where the job runs (a worker or the caller's process): limit threads, call the job
    function in its own directory, measure it (a failed job's compute is recorded too)."""
    if (torch := sys.modules.get("torch")) is not None:
        torch.set_num_threads(ctx.threads)
    with measure("cpu") as meter:  # study jobs run on the CPU (job_kinds: device="cpu")
        try:
            ctx.out_dir.mkdir(parents=True, exist_ok=True)
            output, error = kind.fn(ctx), None
        except Exception as exc:  # one failed job never stops the others
            output, error = None, error_text(exc)
            if os.environ.get("PTYCHO_NL_DEBUG"):
                traceback.print_exc()
    return _Ran(output, error, meter.record)


def _decide(
    study_dir: Path,
    phase: Phase,
    job: Job,
    previous: PhaseManifest | None,
    succeeded: set[str],
    force: bool,
    threads: int,
) -> JobRecord | _Pending:
    """A record at once (upstream failed, or unchanged and intact: skipped), else the work."""
    started = _now()
    params = job.params.model_dump(mode="json")
    missing = [r for r in job.requires if r not in succeeded]
    if missing:
        return JobRecord(
            job_id=job.job_id,
            phase=phase.key,
            kind=job.kind.name,
            status="failed",
            error=f"upstream job failed: {', '.join(missing)}",
            input_digest="",
            params=params,
            started_at=started,
            finished_at=started,
            duration_s=0.0,
            job_dir=phase.job_dir(job.job_id),
        )
    inputs = {name: file_ref(study_dir, rel) for name, rel in job.inputs.items()}
    hashes = {name: ref.sha256 for name, ref in inputs.items()}
    digest = config_digest({"kind": job.kind.name, "params": params, "inputs": hashes})
    old = previous.jobs.get(job.job_id) if previous else None
    if (
        not force
        and old is not None
        and old.status in ("completed", "skipped")
        and old.input_digest == digest
        and _outputs_intact(study_dir, old)
    ):
        return old.model_copy(
            update={"status": "skipped", "started_at": started, "finished_at": _now()}
        )
    ctx = JobContext(
        study_dir=study_dir,
        job_id=job.job_id,
        params=job.params,
        inputs={k: study_dir / v.path for k, v in inputs.items()},
        out_dir=study_dir / phase.job_dir(job.job_id),
        threads=threads,
    )
    return _Pending(job, digest, inputs, ctx)


def _finished(
    study_dir: Path, phase: Phase, work: _Pending, started: str, t0: float, ran: _Ran | JobFailure
) -> JobRecord:
    if isinstance(ran, JobFailure):  # the worker was lost, or the result could not come back
        output, error, compute = None, ran.error, None
    else:
        output, error, compute = ran.output, ran.error, ran.compute
    status: JobStatus = "completed" if error is None else "failed"
    outputs: dict[str, FileRef] = {}
    if output is not None:
        try:
            outputs = {name: file_ref(study_dir, rel) for name, rel in output.outputs.items()}
        except OSError as exc:
            status, error = "failed", f"declared output missing: {exc}"
    return JobRecord(
        job_id=work.job.job_id,
        phase=phase.key,
        kind=work.job.kind.name,
        status=status,
        error=error,
        input_digest=work.digest,
        config_digest=output.config_digest if output else None,
        params=work.job.params.model_dump(mode="json"),
        inputs=work.inputs,
        outputs=outputs,
        metrics=output.metrics if output and status == "completed" else {},
        started_at=started,
        finished_at=_now(),
        duration_s=round(time.perf_counter() - t0, 3),
        job_dir=phase.job_dir(work.job.job_id),
        compute=compute,
    )


def critical_path_priorities(jobs: Sequence[Job]) -> dict[str, float]:
    """Each job's priority: its cost plus the largest priority among the jobs that
    require it, the estimated time from its start to the end of the run. Ready jobs start in
    this order, so the chain that decides when the run ends (a long training and what follows
    it) starts first, and short jobs fill in beside it. Requirements outside `jobs` count
    nothing; `jobs` may come in any order (the requirements form no cycle: a plan's never do)."""
    needed_by: dict[str, list[Job]] = {job.job_id: [] for job in jobs}
    for job in jobs:
        for required in job.requires:
            if required in needed_by:
                needed_by[required].append(job)
    priority: dict[str, float] = {}

    def of(job: Job) -> float:  # memoised; recursion as deep as the longest chain
        if job.job_id not in priority:
            after = max((of(j) for j in needed_by[job.job_id]), default=0.0)
            priority[job.job_id] = job.cost + after
        return priority[job.job_id]

    return {job.job_id: of(job) for job in jobs}


def run_phases(
    study_dir: Path,
    phases: dict[Phase, Sequence[Job]],
    *,
    study_digest: str,
    executor: Executor,
    force: bool = False,
    succeeded: set[str] | None = None,
    on_done: Callable[[JobRecord], None] | None = None,
) -> dict[Phase, PhaseManifest]:
    """Run (or skip) every job of `phases`; return each phase's manifest (also on disk).

    A job is decided as soon as every job it `requires` has a record, whatever its phase: it
    is skipped (unchanged, outputs intact), fails at once with an "upstream" error (a required
    job failed, or is not in this run and not in `succeeded`), or goes to the executor. So the
    executor always has the ready jobs of every phase, instead of waiting for the last job of
    a phase before the next phase starts (on Dask each such wait cost a scheduler round trip).
    Every phase's manifest is rewritten after each of its jobs, and once more at the end with
    its jobs in the caller's order. `succeeded` (ids of jobs done before this run) gains the
    ids of the jobs that succeed here.
    """
    succeeded = succeeded if succeeded is not None else set()
    phase_of = {job.job_id: phase for phase, jobs in phases.items() for job in jobs}
    previous = {phase: load_manifest(study_dir, phase.key) for phase in phases}
    manifests = {
        phase: PhaseManifest(
            phase=phase.key, title=phase.title, study_digest=study_digest, updated_at=_now()
        )
        for phase in phases
    }
    threads = getattr(executor, "threads", None) or threads_per_job(executor.slots)
    waiting = [job for jobs in phases.values() for job in jobs]  # the plan's order
    priorities = critical_path_priorities(waiting)
    pending: dict[str, _Pending] = {}
    handed: dict[str, tuple[str, float]] = {}

    def stamp(key: str) -> None:  # the executor took the job: its clock starts
        handed[key] = (_now(), time.perf_counter())

    queue = JobQueue(on_take=stamp)

    def book(record: JobRecord) -> None:
        manifest = manifests[phase_of[record.job_id]]
        manifest.jobs[record.job_id] = record
        if record.status != "failed":
            succeeded.add(record.job_id)
        _save(study_dir, manifest)
        if on_done:
            on_done(record)

    def has_record(job_id: str) -> bool:
        phase = phase_of.get(job_id)
        return phase is None or job_id in manifests[phase].jobs  # outside the run: decided

    def release() -> None:
        """Decide every waiting job whose requirements all have records (a skip or an
        upstream failure is a record at once, which may release more)."""
        nonlocal waiting
        while True:
            ready = [job for job in waiting if all(has_record(r) for r in job.requires)]
            if not ready:
                return
            taken = {job.job_id for job in ready}
            waiting = [job for job in waiting if job.job_id not in taken]
            for job in ready:
                phase = phase_of[job.job_id]
                decided = _decide(study_dir, phase, job, previous[phase], succeeded, force, threads)
                if isinstance(decided, JobRecord):
                    book(decided)
                else:
                    pending[job.job_id] = decided
                    queue.put(job.job_id, (job.kind, decided.ctx), priorities[job.job_id])

    release()
    if len(queue) and executor.name == "serial":
        import torch  # noqa: F401  (the caller's process: imported once, outside any job's time)
    for key, ran in executor.run(_execute, queue):
        work = pending.pop(key)
        book(_finished(study_dir, phase_of[key], work, *handed.pop(key), ran))
        release()
    for phase, jobs in phases.items():
        manifest = manifests[phase]
        manifest.jobs = {job.job_id: manifest.jobs[job.job_id] for job in jobs}
        _save(study_dir, manifest)
    return manifests


def run_phase(
    study_dir: Path,
    *,
    phase: Phase,
    study_digest: str,
    jobs: Sequence[Job],
    workers: int = 1,
    executor: Executor | None = None,
    force: bool = False,
    succeeded: set[str] | None = None,
    on_done: Callable[[JobRecord], None] | None = None,
) -> PhaseManifest:
    """Run (or skip) every job of one phase (`run_phases` with one phase); return its manifest.

    `succeeded` holds job ids of earlier phases that completed or were skipped; a job whose
    `requires` are not all in it fails at once with an "upstream" error. Jobs that succeed here
    are added to it. The jobs run on `executor`, or on `make_executor(workers)` for this phase.
    """
    if executor is None:
        with make_executor(workers) as own:
            return run_phase(
                study_dir,
                phase=phase,
                study_digest=study_digest,
                jobs=jobs,
                executor=own,
                force=force,
                succeeded=succeeded,
                on_done=on_done,
            )
    manifests = run_phases(
        study_dir,
        {phase: jobs},
        study_digest=study_digest,
        executor=executor,
        force=force,
        succeeded=succeeded,
        on_done=on_done,
    )
    return manifests[phase]
