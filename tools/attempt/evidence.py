"""Run a command and capture it honestly: tee its output, keep the clock, record the environment.

The output is streamed through a pipe in 64 KiB chunks to the terminal and to the log, and hashed
on the way, so a 50 MB log costs 64 KiB of memory. Exit codes of commands killed by a signal are
reported shell-style as 128 + N (the signal number is kept separately).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ptycho_nl.io_utils import CHUNK_BYTES
from tools.attempt.records import EnvFacts, GitFacts
from tools.common.fsutil import iso_utc, utc_now
from tools.common.output import CommandError

# Paths the tool itself writes; they must not make the working tree look dirty.
_OWN_PATHS = re.compile(
    r"^plans/(\.tools\.lock|active/\.current_attempt\.json|active/[^/]+/reports/)"
)


@dataclass
class CapturedCommand:
    """What happened when a command ran: times from the tool's clock, exit code, log digest."""

    argv: list[str]
    cwd: str
    started_at: str
    finished_at: str
    duration_s: float
    exit_code: int
    signal: int | None
    log_sha256: str
    log_bytes: int


def run_and_tee(
    argv: list[str],
    *,
    cwd: Path,
    log_path: Path,
    echo: BinaryIO | None,
    shell: bool = False,
) -> CapturedCommand:
    """Run `argv` (no shell unless `shell`), merging stderr into stdout, teeing to `log_path`.

    `echo` receives the same bytes as the log (the terminal, or None for silence).
    """
    if not argv:
        raise CommandError("no command given: put it after `--`, e.g. `-- pytest tests/x.py`")
    # With --shell the words are joined as typed so pipes and redirections keep their meaning.
    command: list[str] | str = " ".join(argv) if shell else argv
    digest = hashlib.sha256()
    size = 0
    started = utc_now()
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            shell=shell,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise CommandError(f"command not found: {argv[0]!r}") from None
    except PermissionError:
        raise CommandError(f"command not executable: {argv[0]!r}") from None
    assert proc.stdout is not None
    with open(log_path, "wb") as log:
        fd = proc.stdout.fileno()
        try:
            while chunk := os.read(fd, CHUNK_BYTES):
                log.write(chunk)
                log.flush()  # so the log can be followed live (tail -f) while it runs
                digest.update(chunk)
                size += len(chunk)
                if echo is not None:
                    echo.write(chunk)
                    echo.flush()
        except KeyboardInterrupt:
            # Ctrl-C reached the child too; record how it ended instead of losing the run.
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        log.flush()
        os.fsync(log.fileno())
    proc.stdout.close()
    returncode = proc.wait()
    duration = time.perf_counter() - t0
    signal_number = -returncode if returncode < 0 else None  # Popen: -N = killed by N
    return CapturedCommand(
        argv=list(argv),
        cwd=str(cwd),
        started_at=iso_utc(started),
        finished_at=iso_utc(),
        duration_s=round(duration, 3),
        exit_code=128 + signal_number if signal_number else returncode,
        signal=signal_number,
        log_sha256=digest.hexdigest(),
        log_bytes=size,
    )


def git_facts(root: Path) -> GitFacts:
    """SHA, branch and dirty flag via GitPython (imported here: it is slow to import).

    Evidence capture must not fail because git does: without a usable repository or git binary
    the facts are empty (sha None), which the record shows as such.
    """
    try:
        import git
    except ImportError:  # GitPython raises ImportError when no git executable is found
        return GitFacts()
    try:
        repo = git.Repo(root)
        try:
            sha = repo.head.commit.hexsha
        except ValueError:  # no commits yet
            sha = None
        branch = None if repo.head.is_detached else repo.active_branch.name
        porcelain = repo.git.status("--porcelain", "--untracked-files=all")
    except git.GitError:
        return GitFacts()
    paths = [line[3:].strip('"') for line in porcelain.splitlines() if len(line) > 3]
    dirty = sorted(path for path in paths if not _OWN_PATHS.match(path))
    return GitFacts(sha=sha, branch=branch, dirty=bool(dirty), dirty_paths=dirty[:50])


def _torch_versions() -> tuple[str | None, str | None]:
    """torch and CUDA versions read from `torch/version.py` without importing torch (~1 s)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None, None
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return None, None
    found = dict(re.findall(r"^(__version__|cuda)\b[^=]*=\s*'([^']*)'", text, flags=re.M))
    return found.get("__version__"), found.get("cuda")


def env_facts() -> EnvFacts:
    torch_version, cuda_version = _torch_versions()
    return EnvFacts(
        python=platform.python_version(),
        platform=f"{sys.platform}-{platform.machine()}",
        torch=torch_version,
        cuda=cuda_version,
    )
