"""Run a command and capture it honestly: tee its output, keep the clock, record the environment.

The output is streamed through a pipe in 64 KiB chunks to the terminal and to the log, and hashed
on the way, so a 50 MB log costs 64 KiB of memory. The git tree hash of what was tested is taken
through a temporary index. Exit codes of commands killed by a signal are
reported shell-style as 128 + N (the signal number is kept separately).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ptycho_nl.io_utils import CHUNK_BYTES
from tools.attempt.interrupts import InterruptGuard
from tools.attempt.records import EnvFacts, GitFacts
from tools.common.fsutil import iso_utc, utc_now
from tools.common.output import CommandError

POLL_S = 0.2  # how often the read loop looks at Ctrl-C while the command is silent

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
    interrupted: bool = False
    cpu_s: float | None = None  # the child's user + system CPU, its waited-for children included


def _reap(proc: subprocess.Popen, guard: InterruptGuard) -> tuple[int, float | None]:
    """Wait for the child and read its own CPU time (wait4: that child and the descendants it
    waited for, such as pytest-xdist workers; not the tool's concurrent git queries). None
    when something else reaped it first (an interrupt's escalation).

    The wait polls (10 ms, growing to 100 ms) rather than blocks, so that a child which closed
    its output but keeps running after a Ctrl-C is still escalated to SIGTERM and SIGKILL."""
    pause = 0.01
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            return proc.wait(), None
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, round(usage.ru_utime + usage.ru_stime, 3)
        guard.escalate()
        time.sleep(pause)
        pause = min(pause * 1.5, 0.1)


def _interrupted_before_start(argv: list[str], cwd: Path) -> CapturedCommand:
    """Ctrl-C came before the command started: record it as interrupted, 128 + SIGINT."""
    now = iso_utc()
    return CapturedCommand(
        argv=list(argv),
        cwd=str(cwd),
        started_at=now,
        finished_at=now,
        duration_s=0.0,
        exit_code=128 + signal.SIGINT,
        signal=int(signal.SIGINT),
        log_sha256=hashlib.sha256(b"").hexdigest(),
        log_bytes=0,
        interrupted=True,
    )


def _pump(proc: subprocess.Popen, log: BinaryIO, echo: BinaryIO | None, guard: InterruptGuard):
    """Copy the child's output to the log (and `echo`) until EOF; returns (sha256, bytes).

    Polls so that an interrupt is acted on even while the child is silent; after an interrupt it
    stops waiting for EOF once the child is gone and its grace time is over (a grandchild may
    still hold the pipe)."""
    assert proc.stdout is not None
    digest = hashlib.sha256()
    size = 0
    fd = proc.stdout.fileno()
    while True:
        guard.escalate()
        if guard.expired() and proc.poll() is not None:
            break
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if not ready:
            continue
        chunk = os.read(fd, CHUNK_BYTES)
        if not chunk:
            break
        log.write(chunk)
        log.flush()  # so the log can be followed live (tail -f) while it runs
        digest.update(chunk)
        size += len(chunk)
        if echo is not None:
            echo.write(chunk)
            echo.flush()
    return digest.hexdigest(), size


def run_and_tee(
    argv: list[str],
    *,
    cwd: Path,
    log_path: Path,
    echo: BinaryIO | None,
    shell: bool = False,
    env: dict[str, str] | None = None,
    guard: InterruptGuard | None = None,
) -> CapturedCommand:
    """Run `argv` (no shell unless `shell`), merging stderr into stdout, teeing to `log_path`.

    `echo` receives the same bytes as the log (the terminal, or None for silence). Under a
    `guard`, Ctrl-C is recorded (`interrupted`) instead of raised.
    """
    if not argv:
        raise CommandError("no command given: put it after `--`, e.g. `-- pytest tests/x.py`")
    guard = guard or InterruptGuard()
    if guard.interrupted:
        return _interrupted_before_start(argv, cwd)
    # With --shell the words are joined as typed so pipes and redirections keep their meaning.
    command: list[str] | str = " ".join(argv) if shell else argv
    started = utc_now()
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            shell=shell,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise CommandError(f"command not found: {argv[0]!r}") from None
    except PermissionError:
        raise CommandError(f"command not executable: {argv[0]!r}") from None
    guard.child = proc
    if guard.interrupted:  # Ctrl-C between the check above and the child's start
        proc.send_signal(signal.SIGINT)
    with open(log_path, "wb") as log:
        log_sha256, size = _pump(proc, log, echo, guard)
        log.flush()
        os.fsync(log.fileno())
    assert proc.stdout is not None
    proc.stdout.close()
    returncode, cpu_s = _reap(proc, guard)
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
        log_sha256=log_sha256,
        log_bytes=size,
        interrupted=guard.interrupted,
        cpu_s=cpu_s,
    )


def tree_hash(root: Path, active: str = "plans/active") -> str | None:
    """Git tree hash of the working tree as tested (tracked, modified and untracked files that
    .gitignore does not exclude; the tool's own files under plans/ left out).

    `git add -A` into a temporary copy of the index (GIT_INDEX_FILE) then `git write-tree`: the
    real index and the working tree are never touched (`git stash create` would miss untracked
    files, e.g. a new test). None when there is no usable git repository.
    """
    plans = active.rsplit("/", 1)[0] if "/" in active else "."
    # Left out of the add (so they are never hashed into the object store), then out of the
    # index (their tracked entries). Each pattern starts with a wildcard before any ignored
    # name: git refuses an add whose pathspec names an existing ignored path literally
    # (`.pytest_cache/**` once pytest has run), and then no tree was recorded at all.
    own = [
        f"{active}/*/reports/**",
        f"{active}/.*",
        f"{active}/.*/**",
        # the tool's dot folders beside the active one (never the repository root's dot files)
        *([f"{plans}/.*", f"{plans}/.*/**"] if plans != "." else []),
        # What running the tests writes, even where .gitignore does not say so.
        "**/__pycache__/**",
        "**/*.pyc",
        "**/.pytest_cache/**",
    ]

    def git(*args: str, env: dict[str, str] | None = None) -> str:
        out = subprocess.run(
            ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    try:
        index = Path(git("rev-parse", "--path-format=absolute", "--git-path", "index"))
        with tempfile.TemporaryDirectory(prefix="tools-tree-") as tmp:
            temp_index = Path(tmp) / "index"
            if index.is_file():
                shutil.copyfile(index, temp_index)
            env = {**os.environ, "GIT_INDEX_FILE": str(temp_index)}
            git("add", "-A", "--", ".", *(f":(exclude,glob){p}" for p in own), env=env)
            git(
                "rm", "-r", "--cached", "-q", "--ignore-unmatch", "--",
                *(f":(glob){p}" for p in own), env=env,
            )  # fmt: skip
            return git("write-tree", env=env) or None
    except (OSError, subprocess.CalledProcessError):
        return None


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
