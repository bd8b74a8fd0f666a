"""Ctrl-C at random moments of `tools attempt run` (issue 12, item 8): it ends promptly and the
record stays whole, under load too (a busy sibling process competes for the CPU).

SIGINT goes to the whole process group, as a terminal's Ctrl-C does. Whatever the moment (during
start-up, the lock, the child's start, its run), the process must end within `PROMPT_S`; once
the run's log was reserved the record has the run, marked interrupted; a log never exists
without its record entry; attempt.json always loads.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from attempt_repo import PYTEST

from tools.attempt.store import load_record

TOOLS = [sys.executable, "-m", "tools"]
PROMPT_S = 20.0  # generous for a loaded 2-core machine; the child alone would take 60 s
SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"
SLOW_TEST = "import time\n\n\ndef test_slow():\n    time.sleep(60)\n"


def _as_in_a_terminal() -> None:
    # A suite started with SIGINT ignored (a script's `bash .ci/run &`) passes that on to every
    # child: a Ctrl-C landing in the interpreter's own start-up (before `tools` can restore the
    # handler) would be lost, which no program can undo. A terminal starts commands with the
    # default action.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _tools(repo: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*TOOLS, *args],
        cwd=repo,
        env={**os.environ, "TOOLS_ROOT": str(repo), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_as_in_a_terminal,
        **kwargs,
    )


@pytest.fixture
def hub(repo: Path) -> Path:
    start = _tools(repo, "attempt", "start", "CORE-001", "--focus", "ctrl-c stress", "--json")
    _, err = start.communicate(timeout=60)
    assert start.returncode == 0, err
    hubs = list((repo / "plans" / "active" / "CORE-001" / "reports").glob("*/*"))
    assert len(hubs) == 1
    return hubs[0]


def _busy() -> subprocess.Popen:
    """A CPU-bound sibling, so the interrupted process competes for the cores."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


@pytest.mark.slow  # six interrupted runs of a real `tools` process
def test_ctrl_c_at_random_moments_ends_promptly_with_a_whole_record(repo: Path, hub: Path):
    (repo / "tests" / "test_slow.py").write_text(SLOW_TEST)
    rng = random.Random(12)
    commands = [
        ["run", "cli", "--", sys.executable, "-c", SLEEPER],
        ["run", "red", "--", *PYTEST, "tests/test_slow.py"],
    ]
    busy = _busy()
    recorded = 0
    try:
        for i in range(6):
            kind_args = commands[i % 2]
            name = f"n{i}"
            proc = _tools(repo, "attempt", kind_args[0], kind_args[1], "--name", name,
                          *kind_args[2:], start_new_session=True)  # fmt: skip
            if i % 3 == 0:  # during start-up (imports, argument parsing, the lock)
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # once the log is reserved: child starting, running, or the final save
                _wait_for(hub / kind_args[1] / f"{name}.log", proc)
                time.sleep(rng.uniform(0.0, 0.7))
            sent = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=PROMPT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                pytest.fail(f"iteration {i}: still running {PROMPT_S} s after SIGINT")
            elapsed = time.monotonic() - sent
            assert elapsed < PROMPT_S and proc.returncode != 0
            record = load_record(hub / "attempt.json")  # always whole and valid
            folder = hub / kind_args[1]
            logs = {path.stem for path in folder.glob("*.log")}
            runs = {run.name: run for run in record.runs}
            assert logs <= set(runs), f"iteration {i}: a log without its record entry"
            if name in runs:
                recorded += 1
                run = runs[name]
                assert run.interrupted and not run.valid, run.verdict
                assert run.verdict.startswith("interrupted (Ctrl-C)")
            else:  # interrupted before the run began: nothing half-written
                assert not (folder / f"{name}.log").exists()
    finally:
        busy.kill()
        busy.wait()
    assert recorded >= 4  # the iterations interrupted after the log was reserved


def _wait_for(log: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not log.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)


def test_a_child_that_misses_the_sigint_is_terminated_after_the_grace_time(repo: Path, hub: Path):
    # The deterministic form of the race: a SIGINT that reaches the child just before it enters
    # time.sleep() is only acted on when the sleep ends. A child ignoring SIGINT behaves the same;
    # the tool must not wait for it, but SIGTERM it after its grace time and record the run.
    child = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = _tools(repo, "attempt", "run", "cli", "--name", "deaf", "--", sys.executable, "-c",
                  child, start_new_session=True)  # fmt: skip
    log = hub / "cli" / "deaf.log"
    deadline = time.monotonic() + 60
    while not (log.exists() and "ready" in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=PROMPT_S)
    assert time.monotonic() - sent < PROMPT_S and proc.returncode == 1
    run = load_record(hub / "attempt.json").runs[-1]
    assert (run.name, run.exit_code, run.signal, run.interrupted) == ("deaf", 143, 15, True)
    assert 2.5 < run.duration_s < PROMPT_S  # it got its grace time, then SIGTERM


def test_tools_is_interruptible_even_when_started_with_sigint_ignored():
    # A non-interactive shell's background job starts with SIGINT ignored, which Python keeps:
    # `tools` restores the default handler before it parses its command line.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "import tools.cli as cli\n"
        "cli.app = lambda: print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
        "cli.main()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stderr
