"""Phase manifests and the job runner behind the study.

A phase is a list of independent jobs. Each job is a function `fn(ctx) -> JobOutput` named by
import path so it can run in a worker process. The runner:

- computes an input digest from the job's parameters and the SHA-256 of its input files;
- skips a job whose previous record completed with the same digest and whose outputs still
  have their recorded hashes (status `skipped`), unless `force`;
- records every other job as `completed` or `failed` (the error text kept, the phase goes on);
- rewrites the phase manifest atomically after every job, so an interrupted study resumes.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ptycho_nl.config import config_digest
from ptycho_nl.io_utils import atomic_write_text, sha256_file

JobStatus = Literal["completed", "failed", "skipped"]


class FileRef(BaseModel):
    """A file a job read or wrote, relative to the study directory."""

    path: str
    sha256: str
    size_bytes: int


class JobRecord(BaseModel):
    job_id: str
    phase: str
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


class PhaseManifest(BaseModel):
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
class Job:
    """A unit of work: `fn` is "module:function", inputs map names to study-relative paths."""

    job_id: str
    fn: str
    params: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # job ids (any phase) that must have succeeded


@dataclass(frozen=True)
class JobContext:
    study_dir: Path
    job_id: str
    params: dict[str, Any]
    inputs: dict[str, Path]
    out_dir: Path
    threads: int


class JobOutput(BaseModel):
    outputs: dict[str, str] = Field(default_factory=dict)  # name -> study-relative path
    metrics: dict[str, Any] = Field(default_factory=dict)
    config_digest: str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_ref(study_dir: Path, rel: str) -> FileRef:
    path = study_dir / rel
    return FileRef(path=rel, sha256=sha256_file(path), size_bytes=path.stat().st_size)


def manifest_path(study_dir: Path, phase: str) -> Path:
    return study_dir / "manifests" / f"phase_{phase}.json"


def load_manifest(study_dir: Path, phase: str) -> PhaseManifest | None:
    path = manifest_path(study_dir, phase)
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


def _execute(fn_path: str, ctx: JobContext) -> JobOutput:
    """Runs in the worker: limit threads, import the job function, call it."""
    import torch

    torch.set_num_threads(ctx.threads)
    module_name, func_name = fn_path.split(":")
    func: Callable[[JobContext], JobOutput] = getattr(
        importlib.import_module(module_name), func_name
    )
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    return func(ctx)


def _error_text(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def run_phase(
    study_dir: Path,
    *,
    phase: str,
    title: str,
    study_digest: str,
    jobs: Sequence[Job],
    workers: int = 1,
    force: bool = False,
    succeeded: set[str] | None = None,
    on_done: Callable[[JobRecord], None] | None = None,
) -> PhaseManifest:
    """Run (or skip) every job of a phase; return the phase manifest (also written to disk).

    `succeeded` holds job ids of earlier phases that completed or were skipped; a job whose
    `requires` are not all in it fails at once with an "upstream" error.
    """
    previous = load_manifest(study_dir, phase)
    manifest = PhaseManifest(phase=phase, title=title, study_digest=study_digest, updated_at=_now())
    succeeded = succeeded if succeeded is not None else set()
    total_threads = max(1, (os.cpu_count() or 1))
    threads = max(1, total_threads // max(1, workers))

    pending: list[tuple[Job, str, dict[str, FileRef]]] = []
    for job in jobs:
        started = _now()
        missing = [r for r in job.requires if r not in succeeded]
        if missing:
            record = JobRecord(
                job_id=job.job_id,
                phase=phase,
                status="failed",
                error=f"upstream job failed: {', '.join(missing)}",
                input_digest="",
                params=job.params,
                started_at=started,
                finished_at=started,
                duration_s=0.0,
            )
            manifest.jobs[job.job_id] = record
            _save(study_dir, manifest)
            if on_done:
                on_done(record)
            continue
        inputs = {name: file_ref(study_dir, rel) for name, rel in job.inputs.items()}
        digest = config_digest(
            {"fn": job.fn, "params": job.params, "inputs": {k: v.sha256 for k, v in inputs.items()}}
        )
        old = previous.jobs.get(job.job_id) if previous else None
        if (
            not force
            and old is not None
            and old.status in ("completed", "skipped")
            and old.input_digest == digest
            and _outputs_intact(study_dir, old)
        ):
            record = old.model_copy(
                update={"status": "skipped", "started_at": started, "finished_at": _now()}
            )
            manifest.jobs[job.job_id] = record
            succeeded.add(job.job_id)
            _save(study_dir, manifest)
            if on_done:
                on_done(record)
            continue
        pending.append((job, digest, inputs))

    def finish(
        job: Job,
        digest: str,
        inputs: dict[str, FileRef],
        started: str,
        t0: float,
        output: JobOutput | None,
        error: str | None,
    ) -> None:
        status: JobStatus = "completed" if error is None else "failed"
        outputs: dict[str, FileRef] = {}
        if output is not None:
            try:
                outputs = {name: file_ref(study_dir, rel) for name, rel in output.outputs.items()}
            except OSError as exc:
                status, error = "failed", f"declared output missing: {exc}"
        record = JobRecord(
            job_id=job.job_id,
            phase=phase,
            status=status,
            error=error,
            input_digest=digest,
            config_digest=output.config_digest if output else None,
            params=job.params,
            inputs=inputs,
            outputs=outputs,
            metrics=output.metrics if output and status == "completed" else {},
            started_at=started,
            finished_at=_now(),
            duration_s=round(time.perf_counter() - t0, 3),
        )
        manifest.jobs[job.job_id] = record
        if status == "completed":
            succeeded.add(job.job_id)
        _save(study_dir, manifest)
        if on_done:
            on_done(record)

    def context(job: Job, inputs: dict[str, FileRef]) -> JobContext:
        return JobContext(
            study_dir=study_dir,
            job_id=job.job_id,
            params=job.params,
            inputs={k: study_dir / v.path for k, v in inputs.items()},
            out_dir=study_dir / phase_dirname(phase) / job.job_id,
            threads=threads,
        )

    if workers <= 1:
        for job, digest, inputs in pending:
            started, t0 = _now(), time.perf_counter()
            try:
                output, error = _execute(job.fn, context(job, inputs)), None
            except Exception as exc:  # one failed job never stops the others
                output, error = None, _error_text(exc)
                if os.environ.get("PTYCHO_NL_DEBUG"):
                    traceback.print_exc()
            finish(job, digest, inputs, started, t0, output, error)
    else:
        ctx_mp = multiprocessing.get_context("spawn")  # fork after torch threads start is unsafe
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx_mp) as pool:
            running: dict[Future, tuple[Job, str, dict[str, FileRef], str, float]] = {}
            for job, digest, inputs in pending:
                fut = pool.submit(_execute, job.fn, context(job, inputs))
                running[fut] = (job, digest, inputs, _now(), time.perf_counter())
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    job, digest, inputs, started, t0 = running.pop(fut)
                    exc = fut.exception()
                    finish(
                        job,
                        digest,
                        inputs,
                        started,
                        t0,
                        None if exc else fut.result(),
                        _error_text(exc) if exc else None,
                    )
    manifest.jobs = {job.job_id: manifest.jobs[job.job_id] for job in jobs}  # design order
    _save(study_dir, manifest)
    return manifest


PHASE_DIRS = {"C": "data", "D": "views", "E": "runs", "F": "iterative", "G": "compare"}


def phase_dirname(phase: str) -> str:
    return PHASE_DIRS.get(phase, f"phase_{phase}")
