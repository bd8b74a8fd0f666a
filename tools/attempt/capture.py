"""`tools attempt run` and `collect`: run a command, tee it into the hub, record its verdict.

RED, GREEN and collection runs are bound to a pytest the tool itself ran (tools.attempt.binding):
the counts come from the JUnit XML it asked for, the interpreter from its probe plugin. Ctrl-C is
recorded, not raised (tools.attempt.interrupts). Records are read-modify-written under
`repo_lock(root)`; the command itself runs outside the lock and its result is merged in
afterwards, so two agents in one repository never lose each other's entries.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ptycho_nl.io_utils import sha256_file
from tools.attempt.binding import launch_argv, launch_env, launch_files, resolve_interpreter
from tools.attempt.evidence import CapturedCommand, env_facts, git_facts, run_and_tee, tree_hash
from tools.attempt.interrupts import Background, InterruptGuard
from tools.attempt.names import check_run_name
from tools.attempt.pytest_outcome import is_pytest_command
from tools.attempt.records import AttemptRecord, CollectionRecord, GitFacts, RunRecord
from tools.attempt.store import (
    RECORD_NAME,
    ensure_in_plans,
    hub_dir,
    load_record,
    open_record,
    save_record,
)
from tools.attempt.verdicts import EVIDENCE_KINDS, judge_collection, judge_run
from tools.common.fsutil import inside, repo_lock
from tools.common.layout import active_dir
from tools.common.output import CommandError
from tools.common.vocabulary import RUN_KINDS, RunKind

GIT_WAIT_S = 30.0  # the git state is read while the command runs; rarely waited for at all


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


def _captured_fields(captured: CapturedCommand, log_path: Path, hub: Path, launch: Launch) -> dict:
    """The facts every captured command records (run and collection records alike): how it
    ran, its log, and the JUnit and probe files the tool asked pytest for."""
    junit_rel, junit_sha = _file_fields(hub, launch.junit)
    probe_rel, probe_sha = _file_fields(hub, launch.probe)
    return {
        "command": launch.argv,
        "cwd": captured.cwd,
        "started_at": captured.started_at,
        "finished_at": captured.finished_at,
        "duration_s": captured.duration_s,
        "cpu_s": captured.cpu_s,
        "exit_code": captured.exit_code,
        "interrupted": captured.interrupted,
        "log": log_path.relative_to(hub).as_posix(),
        "log_sha256": captured.log_sha256,
        "log_bytes": captured.log_bytes,
        "junit": junit_rel,
        "junit_sha256": junit_sha,
        "probe": probe_rel,
        "probe_sha256": probe_sha,
    }


def _reserve(
    root: Path, attempt: str | None, kind: str, name: str | None
) -> tuple[AttemptRecord, Path, Path]:
    """The attempt, a log path reserved in its hub for this run, and the hub."""
    with repo_lock(root):
        record = open_record(root, attempt)
        log_path = _reserve_log(root, record, kind, name)
    return record, log_path, hub_dir(root, record)


def _tested_tree(root: Path) -> str | None:
    """The tree hash of the sources as the command starts (before it writes caches)."""
    active = active_dir(root)
    if not inside(active, root):
        return None
    return tree_hash(root, active.resolve().relative_to(root.resolve()).as_posix())


@dataclass
class Launch:
    """How the command is started: argv, environment and the files the tool asks pytest for."""

    argv: list[str]
    env: dict[str, str] | None = None
    junit: Path | None = None
    probe: Path | None = None
    resolved: str | None = None


def _launch(argv: list[str], log_path: Path, resolved: Path | None) -> Launch:
    if resolved is None:
        return Launch(argv=list(argv))
    junit, probe = launch_files(log_path)
    for stale in (junit, probe):
        stale.unlink(missing_ok=True)  # never read a file left by someone else
    return Launch(
        argv=launch_argv(argv, junit),
        env=launch_env(probe),
        junit=junit,
        probe=probe,
        resolved=str(resolved),
    )


def _capture(
    root: Path, launch: Launch, log_path: Path, work_dir: Path, echo, guard, shell: bool = False
) -> tuple[CapturedCommand, GitFacts]:
    """Run the launch: the tree hash first (~50 ms), HEAD and dirty paths read alongside."""
    tree = None if guard.interrupted else _tested_tree(root)
    git_state = Background(git_facts, root, default=GitFacts())
    try:
        captured = run_and_tee(
            launch.argv,
            cwd=work_dir,
            log_path=log_path,
            echo=echo,
            shell=shell,
            env=launch.env,
            guard=guard,
        )
    except CommandError:
        log_path.unlink(missing_ok=True)  # the command never started: no evidence to keep
        raise
    facts = git_state.result(timeout=GIT_WAIT_S if not guard.interrupted else 1.0)
    return captured, facts.model_copy(update={"tree": tree})


def _file_fields(hub: Path, path: Path | None) -> tuple[str | None, str | None]:
    if path is None or not path.is_file():
        return None, None
    return path.relative_to(hub).as_posix(), sha256_file(path)


@dataclass
class RunResult:
    record: AttemptRecord
    run: RunRecord


def _resolve_for(kind: str, argv: list[str], shell: bool, work_dir: Path) -> Path | None:
    """The interpreter a pytest run will use; RED/GREEN must be a pytest the tool runs."""
    if kind in EVIDENCE_KINDS:
        if shell:
            raise CommandError(
                f"a {kind.upper()} cannot run through --shell: the tool must run pytest itself "
                "(drop --shell and give the pytest command after `--`)"
            )
        return resolve_interpreter(argv, work_dir)
    if shell or not is_pytest_command(argv):
        return None
    try:  # a cli run of pytest still gets its counts, when it is a real pytest
        return resolve_interpreter(argv, work_dir)
    except CommandError:
        return None


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
    attempt: str | None = None,
) -> RunResult:
    """Run `argv`, tee it to `<hub>/<kind>/<name>.log`, read pytest's JUnit, record the verdict."""
    if kind not in RUN_KINDS:
        raise CommandError(f"invalid kind {kind!r}: expected one of {', '.join(RUN_KINDS)}")
    if not argv:
        raise CommandError("no command given: put it after `--`, e.g. `-- pytest tests/x.py`")
    work_dir = cwd or Path.cwd()
    resolved = _resolve_for(kind, argv, shell, work_dir)
    with InterruptGuard() as guard:
        record, log_path, hub = _reserve(root, attempt, kind, name)
        launch = _launch(argv, log_path, resolved)
        captured, git = _capture(root, launch, log_path, work_dir, echo, guard, shell)
        judged = judge_run(
            kind,
            exit_code=captured.exit_code,
            signal_number=captured.signal,
            interrupted=captured.interrupted,
            expected_exit=expected_exit,
            log=log_path,
            junit=launch.junit,
            probe=launch.probe,
            resolved=launch.resolved,
        )
        with repo_lock(root):
            record = load_record(hub / RECORD_NAME)
            entry = RunRecord(
                sequence=record.next_sequence(),
                kind=kind,
                name=log_path.stem,
                argv=list(argv),
                shell=shell,
                **_captured_fields(captured, log_path, hub, launch),
                signal=captured.signal,
                interpreter=judged.interpreter,
                git=git,
                env=env_facts(),
                pytest=judged.outcome,
                expected_exit=expected_exit if kind == "cli" else None,
                valid=judged.valid,
                verdict=judged.verdict,
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
    attempt: str | None = None,
) -> CollectResult:
    """Run the pytest selector with `--collect-only -q`; valid only if >= 1 test is collected."""
    if not is_pytest_command(argv):
        raise CommandError(
            f"collect needs a pytest command (pytest, py.test, python -m pytest), found {argv[:3]}"
        )
    work_dir = cwd or Path.cwd()
    resolved = resolve_interpreter(argv, work_dir)
    argv_run = list(argv)
    for flag in ("--collect-only", "-q"):
        if flag not in argv_run:
            argv_run.append(flag)
    with InterruptGuard() as guard:
        record, log_path, hub = _reserve(root, attempt, "collect", name)
        launch = _launch(argv_run, log_path, resolved)
        captured, git = _capture(root, launch, log_path, work_dir, echo, guard)
        judged = judge_collection(
            exit_code=captured.exit_code,
            interrupted=captured.interrupted,
            log=log_path,
            junit=launch.junit,
            probe=launch.probe,
            resolved=launch.resolved,
        )
        with repo_lock(root):
            record = load_record(hub / RECORD_NAME)
            entry = CollectionRecord(
                sequence=record.next_sequence(),
                name=log_path.stem,
                argv=argv_run,
                **_captured_fields(captured, log_path, hub, launch),
                interpreter=judged.interpreter,
                git=git,
                node_ids=judged.node_ids,
                count=len(judged.node_ids),
                valid=judged.valid,
                verdict=judged.verdict,
            )
            record.collections.append(entry)
            save_record(root, record)
    return CollectResult(record=record, collection=entry)


def default_echo(as_json: bool) -> BinaryIO:
    """Command output goes to the terminal; to stderr under --json so stdout stays one object."""
    stream = sys.stderr if as_json else sys.stdout
    return stream.buffer
