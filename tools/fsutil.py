"""Filesystem primitives every `tools` writer uses: repo root, locks, atomic writes, hashes.

Two agents in one repository may run `tools` at the same time, so every read-modify-write of a
shared record happens under `repo_lock()` and every write goes to a temp file renamed into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from tools.output import ToolError

CHUNK_BYTES = 64 * 1024
ID_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]*$")
LOCK_NAME = ".tools.lock"


def find_repo_root(start: Path | None = None) -> Path:
    """The repository root: $TOOLS_ROOT if set, else the nearest ancestor holding `.git`."""
    env = os.environ.get("TOOLS_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    raise ToolError(f"not inside a git repository: {here} (set TOOLS_ROOT to the repository root)")


def validate_item_id(item_id: str) -> str:
    """IDs are [A-Z0-9-]+ so that no ID can name a path outside plans/."""
    if not ID_PATTERN.match(item_id or ""):
        raise ToolError(
            f"invalid item ID {item_id!r}: expected capitals, digits and '-' (e.g. TRAIN-001)"
        )
    return item_id


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def utc_stamp(moment: datetime | None = None) -> str:
    """Compact UTC stamp used in hub directory names: 2026-11-24T203554Z."""
    return (moment or utc_now()).strftime("%Y-%m-%dT%H%M%SZ")


def iso_utc(moment: datetime | None = None) -> str:
    """ISO-8601 UTC with seconds: 2026-11-24T20:35:54Z."""
    return (moment or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def inside(path: Path, root: Path) -> bool:
    """True when `path` (resolved) lies within `root` (resolved)."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to a temp file in the same directory, fsync, rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def repo_lock(root: Path, name: str = LOCK_NAME) -> Iterator[None]:
    """An exclusive advisory lock (fcntl.flock) on `<root>/plans/<name>`; blocks until free."""
    lock_dir = root / "plans"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / name, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
