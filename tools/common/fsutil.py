"""Filesystem primitives every `tools` writer uses: repo root, IDs, clock, containment, locks.

Two agents in one repository may run `tools` at the same time, so every read-modify-write of a
shared record happens under `repo_lock()`, and every write goes through
`ptycho_nl.io_utils.atomic_write_text` (a temp file renamed into place).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from tools.common.output import CommandError

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
    raise CommandError(
        f"not inside a git repository: {here} (set TOOLS_ROOT to the repository root)"
    )


def validate_item_id(item_id: str) -> str:
    """IDs are [A-Z0-9-]+ so that no ID can name a path outside plans/."""
    if not ID_PATTERN.match(item_id or ""):
        raise CommandError(
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
