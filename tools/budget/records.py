"""The records `tools budget` and `tools report session` read, as JSON: compute blocks of job
manifests and attempt records.

A compute block is any object under a `compute` key with `wall_s`, `cpu_s` and `device` (the
`ptycho_nl.compute.ComputeRecord` fields) in a training `manifest.json`, a reconstruction
`recon.json`, a study's `manifests/phase_*.json` (one per job) or a shard index `shards.json`
(one per shard). Each is named by its file and a JSON pointer, so every figure links to its
record. A manifest inside the directory of a study job that has its own compute is covered by
that job's record and is not counted twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RECORD_FILES = ("manifest.json", "recon.json", "shards.json")
PRUNE = {"node_modules", "__pycache__", "site-packages", "venv", "env"}


@dataclass(frozen=True)
class JobCompute:
    """One job's compute block and where it is recorded (`path#pointer`)."""

    path: str  # repository-relative
    pointer: str  # JSON pointer of the block, e.g. /jobs/C-d1e3-dense/compute
    compute: dict[str, Any]
    job_dir: str | None = None  # a study job's directory (repository-relative), if any

    @property
    def ref(self) -> str:
        return f"{self.path}#{self.pointer}"

    @property
    def started(self) -> datetime | None:
        return parse_utc(self.compute.get("started_utc"))

    @property
    def finished(self) -> datetime | None:
        return parse_utc(self.compute.get("finished_utc"))


@dataclass
class Attempt:
    """The fields of one `attempt.json` these commands use."""

    item_id: str
    number: int
    hub: str
    path: str
    status: str
    started_at: str
    finished_at: str | None
    runs: list[dict[str, Any]] = field(default_factory=list)
    collections: int = 0
    artifacts: int = 0
    blocker: dict[str, Any] | None = None
    next: str | None = None

    @property
    def attempt_id(self) -> str:
        return f"{self.item_id}#{self.number}"


def parse_utc(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it cannot be read (a record being written elsewhere
    is skipped, not fatal)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _is_compute(value: Any) -> bool:
    return isinstance(value, dict) and {"wall_s", "cpu_s", "device"} <= set(value)


def _blocks(value: Any, pointer: str = "") -> list[tuple[str, dict, str | None]]:
    """(pointer, compute block, job_dir of the object holding it) anywhere in `value`."""
    found: list[tuple[str, dict, str | None]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{pointer}/{key}"
            if key == "compute" and _is_compute(child):
                found.append((where, child, value.get("job_dir")))
            else:
                found.extend(_blocks(child, where))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found.extend(_blocks(child, f"{pointer}/{i}"))
    return found


def _is_job_record(folder: Path, name: str) -> bool:
    is_phase = folder.name == "manifests" and name.startswith("phase_")
    return name in RECORD_FILES or (is_phase and name.endswith(".json"))


def record_files(
    root: Path, dirs: list[str], wanted: Callable[[Path, str], bool] = _is_job_record
) -> list[Path]:
    """Files under `dirs` that `wanted(folder, name)` picks (default: job records); hidden
    and environment folders are pruned."""
    out: set[Path] = set()
    for sub in dirs:
        base = (root / sub).resolve()
        for folder, subdirs, files in os.walk(base):
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in PRUNE]
            here = Path(folder)
            out.update(here / name for name in files if wanted(here, name))
    return sorted(out)


def rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def job_computes(root: Path, dirs: list[str]) -> list[JobCompute]:
    """Every compute block under `dirs`, each once (module docstring)."""
    found: list[JobCompute] = []
    for path in record_files(root, dirs):
        data = read_json(path)
        where_file = rel(root, path)
        study = path.parent.parent if path.parent.name == "manifests" else None
        for pointer, block, job_dir in _blocks(data):
            where = rel(root, study / job_dir) if study is not None and job_dir else None
            found.append(JobCompute(where_file, pointer, block, where))
    covered = [j.job_dir for j in found if j.job_dir]
    return [
        j
        for j in found
        if j.job_dir is not None or not any(j.path.startswith(d + "/") for d in covered)
    ]


def load_attempts(active: Path, root: Path) -> list[Attempt]:
    """Every attempt record under `active` (plans/active), sorted by (item, number)."""
    out = []
    for path in active.glob("*/reports/*/*/attempt.json"):
        data = read_json(path)
        if not isinstance(data, dict) or "item_id" not in data:
            continue
        out.append(
            Attempt(
                item_id=data["item_id"],
                number=int(data.get("number", 0)),
                hub=data.get("hub", rel(root, path.parent)),
                path=rel(root, path),
                status=data.get("status", ""),
                started_at=data.get("started_at", ""),
                finished_at=data.get("finished_at"),
                runs=list(data.get("runs", [])),
                collections=len(data.get("collections", [])),
                artifacts=len(data.get("artifacts", [])),
                blocker=data.get("blocker"),
                next=data.get("next"),
            )
        )
    return sorted(out, key=lambda a: (a.item_id, a.number))
