"""The job manifest (`<run>/manifest.json`): one record of how a training job ended."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ptycho_nl.io_utils import atomic_write_text

MANIFEST_NAME = "manifest.json"


class JobManifest(BaseModel):
    """status completed|failed|skipped; `error` is the message of a failed job."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["completed", "failed", "skipped"]
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


def git_sha(start: Path | None = None) -> str | None:
    """HEAD of the git checkout holding this library, or None outside one."""
    where = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


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
