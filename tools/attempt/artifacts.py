"""`tools attempt artifact`: copy files into the hub, recording size and SHA-256 of each."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ptycho_nl.io_utils import CHUNK_BYTES, atomic_write
from tools.attempt.records import ArtifactRecord
from tools.attempt.store import ensure_in_plans, hub_dir, open_record, save_record
from tools.common.fsutil import inside, iso_utc, repo_lock
from tools.common.output import CommandError
from tools.common.vocabulary import ARTIFACT_FOLDERS, ArtifactFolder


def _copy_hashing(source: Path, target: Path) -> tuple[int, str]:
    """Copy in 64 KiB chunks, hashing as we go, through an atomic write (a crash leaves no
    half-copied artifact)."""
    digest = hashlib.sha256()
    size = 0

    def copy(tmp: Path) -> None:
        nonlocal size
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())

    atomic_write(target, copy)
    return size, digest.hexdigest()


def artifact(
    *, root: Path, paths: list[Path], into: ArtifactFolder = "data"
) -> list[ArtifactRecord]:
    """Copy files into `<hub>/<into>/`, recording size and SHA-256 of each."""
    if into not in ARTIFACT_FOLDERS:
        raise CommandError(f"invalid --into {into!r}: expected {' or '.join(ARTIFACT_FOLDERS)}")
    if not paths:
        raise CommandError("no artifact paths given")
    sources = []
    for path in paths:
        if not path.is_file():
            raise CommandError(f"{path}: not a file")
        sources.append(path)
    added: list[ArtifactRecord] = []
    with repo_lock(root):
        record = open_record(root)
        hub = hub_dir(root, record)
        folder = ensure_in_plans(root, hub / into)
        folder.mkdir(parents=True, exist_ok=True)
        taken = {item.path for item in record.artifacts}
        for source in sources:
            target = folder / source.name
            if not inside(target, folder) or source.name in ("", ".", ".."):
                raise CommandError(f"{source}: would be written outside the hub")
            relative = target.relative_to(hub).as_posix()
            if relative in taken:
                raise CommandError(f"{relative} is already an artifact of this attempt")
            size, digest = _copy_hashing(source, target)
            entry = ArtifactRecord(
                path=relative,
                source=str(source),
                size=size,
                sha256=digest,
                added_at=iso_utc(),
            )
            record.artifacts.append(entry)
            taken.add(relative)
            added.append(entry)
        save_record(root, record)
    return added
