"""The job manifest (`<run>/manifest.json`): one record of how a training job ended.

`job_manifest` is the only place a manifest is built (it stamps provenance and the finish
time); `write_manifest` the only place it is written. Statuses: specs/training_outputs.md.
`add_compute` stamps the session's compute (`ptycho_nl.compute`) on the written manifest once
the job has ended, whatever its status; a resumed run adds its earlier sessions' figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ptycho_nl.compute import ComputeRecord
from ptycho_nl.io_utils import atomic_write_text
from ptycho_nl.provenance import environment, git_sha
from ptycho_nl.train.runlog import utc_iso

MANIFEST_NAME = "manifest.json"

# stopped_budget: the session ended at its epoch budget (`stop_after_epoch`) before the config's
# last epoch; `--resume` continues it. Not a failure: nothing went wrong.
JobStatus = Literal["completed", "failed", "skipped", "stopped_budget"]


class JobManifest(BaseModel):
    """How a job ended; `error` is the message of a failed job (or where a budget stopped it)."""

    model_config = ConfigDict(extra="forbid")

    status: JobStatus
    error: str | None = None
    config_digest: str | None = None
    model_name: str | None = None
    data_path: str | None = None
    bundle_path: str | None = None  # relative to the run directory
    bundle_sha256: str | None = None
    bundle_size_bytes: int | None = None
    metrics: dict[str, Any] = {}
    epochs_completed: int = 0
    git_sha: str | None = None
    environment: dict[str, Any] = {}
    started_utc: str | None = None
    finished_utc: str | None = None
    compute: ComputeRecord | None = None  # None only in manifests from before compute records
    data_qc: dict[str, Any] | None = None  # the data's QC check (train.setup.check_data_qc)


def job_manifest(
    status: JobStatus,
    *,
    started_utc: str,
    data_path: str | Path,
    env: dict[str, Any] | None = None,
    **fields: Any,
) -> JobManifest:
    """A manifest finished now, with this checkout's git SHA and the process environment."""
    return JobManifest(
        status=status,
        data_path=str(data_path),
        git_sha=git_sha(),
        environment=env if env is not None else environment(),
        started_utc=started_utc,
        finished_utc=utc_iso(),
        **fields,
    )


def write_manifest(run_dir: Path, manifest: JobManifest) -> Path:
    return atomic_write_text(
        Path(run_dir) / MANIFEST_NAME, manifest.model_dump_json(indent=2) + "\n"
    )


def read_manifest(run_dir: Path) -> JobManifest | None:
    path = Path(run_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return JobManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def finished_run(run_dir: Path, digest: str) -> JobManifest | None:
    """The manifest of a completed run of this config whose bundle is still there, or None."""
    previous = read_manifest(run_dir)
    if (
        previous is not None
        and previous.status in ("completed", "skipped")
        and previous.config_digest == digest
        and previous.bundle_path
        and (Path(run_dir) / previous.bundle_path).is_file()
    ):
        return previous
    return None


def add_compute(
    run_dir: Path, manifest: JobManifest, session: ComputeRecord, *, earlier: JobManifest | None
) -> JobManifest:
    """`manifest` with this session's compute (plus `earlier`'s, the manifest the session
    resumed from), written over the one on disk. A skipped job keeps the compute of the run
    that made its bundle: skipping cost nothing worth billing."""
    if manifest.status == "skipped" and manifest.compute is not None:
        return manifest
    if earlier is not None and earlier.compute is not None:
        session = session.plus(earlier.compute)
    stamped = manifest.model_copy(update={"compute": session})
    write_manifest(run_dir, stamped)
    return stamped


def stamp_data_qc(run_dir: Path, data_qc: dict[str, Any]) -> dict[str, Any] | None:
    """Record the data's QC check (passed record or --skip-qc override) on the written manifest."""
    manifest = read_manifest(run_dir)
    if manifest is None:
        return None
    stamped = manifest.model_copy(update={"data_qc": data_qc})
    write_manifest(run_dir, stamped)
    return stamped.model_dump(mode="json")
