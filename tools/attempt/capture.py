"""`tools attempt run` and `collect`: run a command, tee it into the hub, record its verdict.

Records are read-modify-written under `repo_lock(root)`; the command itself runs outside the
lock and its result is merged in afterwards, so two agents in one repository never lose each
other's entries.
"""

from __future__ import annotations

import itertools
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ptycho_nl.io_utils import sha256_file
from tools.attempt.evidence import CapturedCommand, env_facts, git_facts, run_and_tee
from tools.attempt.names import check_run_name
from tools.attempt.pytest_outcome import is_pytest_command, parse_collect_output, parse_outcome
from tools.attempt.records import AttemptRecord, CollectionRecord, RunRecord
from tools.attempt.store import (
    RECORD_NAME,
    ensure_in_plans,
    hub_dir,
    load_record,
    open_record,
    save_record,
)
from tools.attempt.verdicts import run_verdict
from tools.common.fsutil import repo_lock
from tools.common.output import CommandError
from tools.common.vocabulary import RUN_KINDS, RunKind


def _reserve_log(root: Path, record: AttemptRecord, kind: str, name: str | None) -> Path:
    """Create `<hub>/<kind>/<name>.log` exclusively (under the lock) so names never collide."""
    folder = ensure_in_plans(root, hub_dir(root, record) / kind)
    folder.mkdir(parents=True, exist_ok=True)
    # A taken name (a re-run after a fix, say) gets a numbered suffix: earlier evidence is
    # never overwritten, and the agent does not have to invent a new name.
    stem = check_run_name(name) if name is not None else kind
    first = [stem] if name is not None else []
    for candidate in itertools.chain(
        first, (f"{stem}-{i}" for i in itertools.count(1 + len(first)))
    ):
        path = folder / f"{candidate}.log"
        try:
            path.touch(exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable: itertools.count never ends")


def _captured_fields(captured: CapturedCommand, log_path: Path, hub: Path) -> dict:
    """The facts every captured command records (run and collection records alike)."""
    return {
        "cwd": captured.cwd,
        "started_at": captured.started_at,
        "finished_at": captured.finished_at,
        "duration_s": captured.duration_s,
        "exit_code": captured.exit_code,
        "log": log_path.relative_to(hub).as_posix(),
        "log_sha256": captured.log_sha256,
        "log_bytes": captured.log_bytes,
    }


@dataclass
class RunResult:
    record: AttemptRecord
    run: RunRecord


def run(
    *,
    root: Path,
    kind: RunKind,
    argv: list[str],
    name: str | None = None,
    shell: bool = False,
    expected_exit: int = 0,
    echo: BinaryIO | None = None,
    cwd: Path | None = None,
) -> RunResult:
    """Run `argv`, tee it to `<hub>/<kind>/<name>.log`, parse pytest, record the verdict."""
    if kind not in RUN_KINDS:
        raise CommandError(f"invalid kind {kind!r}: expected one of {', '.join(RUN_KINDS)}")
    if not argv:
        raise CommandError("no command given: put it after `--`, e.g. `-- pytest tests/x.py`")
    with repo_lock(root):
        record = open_record(root)
        log_path = _reserve_log(root, record, kind, name)
    argv_run = list(argv)
    junit_path = None
    if not shell and is_pytest_command(argv):
        junit_path = log_path.with_suffix(".junit.xml")
        junit_path.unlink(missing_ok=True)  # never parse a stale file left by someone else
        argv_run.append(f"--junitxml={junit_path}")
    work_dir = cwd or Path.cwd()
    # The git state is read while the command runs (the code it ran against, at no extra wait).
    with ThreadPoolExecutor(max_workers=1) as pool:
        git_future = pool.submit(git_facts, root)
        try:
            captured = run_and_tee(
                argv_run, cwd=work_dir, log_path=log_path, echo=echo, shell=shell
            )
        except CommandError:
            log_path.unlink(missing_ok=True)  # the command never started: no evidence to keep
            raise
        git = git_future.result()
    outcome = None
    if junit_path is not None or kind != "cli":
        outcome = parse_outcome(log_path, junit_path)
        if kind == "cli" and outcome.source == "none":
            outcome = None
    valid, verdict = run_verdict(kind, captured.exit_code, outcome, expected_exit)
    if captured.signal:
        valid = kind == "cli" and valid
        verdict = f"killed by signal {captured.signal}; " + verdict
    hub = hub_dir(root, record)
    junit_ok = junit_path is not None and junit_path.is_file()
    with repo_lock(root):
        record = load_record(hub / RECORD_NAME)
        entry = RunRecord(
            sequence=record.next_sequence(),
            kind=kind,
            name=log_path.stem,
            argv=list(argv),
            shell=shell,
            **_captured_fields(captured, log_path, hub),
            signal=captured.signal,
            junit=junit_path.relative_to(hub).as_posix() if junit_ok else None,
            junit_sha256=sha256_file(junit_path) if junit_ok else None,
            git=git,
            env=env_facts(),
            pytest=outcome,
            expected_exit=expected_exit if kind == "cli" else None,
            valid=valid,
            verdict=verdict,
        )
        record.runs.append(entry)
        save_record(root, record)
    return RunResult(record=record, run=entry)


@dataclass
class CollectResult:
    record: AttemptRecord
    collection: CollectionRecord


def collect(
    *,
    root: Path,
    argv: list[str],
    name: str | None = None,
    echo: BinaryIO | None = None,
    cwd: Path | None = None,
) -> CollectResult:
    """Run the pytest selector with `--collect-only -q`; valid only if >= 1 test is collected."""
    if not is_pytest_command(argv):
        raise CommandError(
            f"collect needs a pytest command (pytest, py.test, python -m pytest), found {argv[:3]}"
        )
    with repo_lock(root):
        record = open_record(root)
        log_path = _reserve_log(root, record, "collect", name)
    argv_run = list(argv)
    for flag in ("--collect-only", "-q"):
        if flag not in argv_run:
            argv_run.append(flag)
    try:
        captured = run_and_tee(argv_run, cwd=cwd or Path.cwd(), log_path=log_path, echo=echo)
    except CommandError:
        log_path.unlink(missing_ok=True)
        raise
    node_ids = parse_collect_output(log_path)
    if captured.exit_code == 5:
        valid, verdict = False, "no tests collected (pytest exit 5)"
    elif captured.exit_code == 4:
        valid, verdict = False, "selector not found or usage error (pytest exit 4)"
    elif captured.exit_code != 0:
        valid, verdict = False, f"collection failed (pytest exit {captured.exit_code})"
    elif not node_ids:
        valid, verdict = False, "no node ids in the collection output"
    else:
        valid, verdict = True, f"{len(node_ids)} test(s) collected"
    hub = hub_dir(root, record)
    with repo_lock(root):
        record = load_record(hub / RECORD_NAME)
        entry = CollectionRecord(
            sequence=record.next_sequence(),
            name=log_path.stem,
            argv=argv_run,
            **_captured_fields(captured, log_path, hub),
            node_ids=node_ids,
            count=len(node_ids),
            valid=valid,
            verdict=verdict,
        )
        record.collections.append(entry)
        save_record(root, record)
    return CollectResult(record=record, collection=entry)


def default_echo(as_json: bool) -> BinaryIO:
    """Command output goes to the terminal; to stderr under --json so stdout stays one object."""
    stream = sys.stderr if as_json else sys.stdout
    return stream.buffer
