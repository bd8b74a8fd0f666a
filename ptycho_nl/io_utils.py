"""Atomic writes and chunked hashing: a crash never leaves a half-written file."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHUNK_BYTES = 64 * 1024


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, read in 64 KiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _umask() -> int:
    """The process umask. Linux reports it in /proc; elsewhere os.umask can only be read by
    setting it, so it is written straight back (a brief window other threads could see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call `writer(tmp_path)` then rename the temp file over `path` (same directory, same fs).

    The file gets the mode of a plain `open(path, "w")`, 0666 less the umask: mkstemp's private
    0600 would make manifests and records unreadable to the rest of a lab group."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
