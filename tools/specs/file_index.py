"""The repository's files by name, so a bare citation (`patch_generator.py:344`) can be resolved
to the one path it means (`ptycho_torch/patch_generator.py`), or shown to be ambiguous.

The files are those git knows (tracked, or untracked and not ignored); outside a git work tree,
a walk that skips hidden folders. Built once per check.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class FileIndex:
    """Repository-relative POSIX paths, looked up by their last component."""

    def __init__(self, paths: list[str]):
        self.by_name: dict[str, list[str]] = {}
        for path in sorted(set(paths)):
            self.by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)

    @classmethod
    def of(cls, root: Path) -> FileIndex:
        return cls(_git_files(root) or _walk(root))

    def candidates(self, cited: str) -> list[str]:
        """Paths that end with `cited` at a path-component boundary (`b/c.py` matches
        `a/b/c.py`, never `a/xb/c.py`)."""
        name = cited.rsplit("/", 1)[-1]
        return [
            path
            for path in self.by_name.get(name, [])
            if path == cited or path.endswith("/" + cited)
        ]


def _git_files(root: Path) -> list[str]:
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    names = result.stdout.decode("utf-8", errors="replace").split("\0")
    # Deleted-but-tracked files are still listed by git; only files on disk can be cited.
    return [name for name in names if name and (root / name).is_file()]


def _walk(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(folder).relative_to(root)
        found.extend((base / name).as_posix() for name in files)
    return found
