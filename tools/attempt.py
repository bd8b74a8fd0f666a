"""The attempt workflow as library functions: start, run, collect, artifact, block, finish,
show, list, verify. The CLI (`tools/attempt_cli.py`) is a thin layer over these.

Every function is keyword-only, takes the repository root, and raises `ToolError` for input
errors (exit 2) or for refused checks (`exit_code=1`). Records are read-modify-written under
`repo_lock(root)`; long-running commands run outside the lock and their results are merged in
afterwards, so two agents in one repository never lose each other's entries.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from tools.attempt_store import (
    HUB_SUBDIRS,
    RECORD_NAME,
    active_dir,
    all_attempts,
    clear_current,
    current_record,
    ensure_in_plans,
    find_record,
    hub_dir,
    list_attempts,
    load_record,
    next_number,
    reports_dir,
    save_record,
    set_current,
)
from tools.evidence import env_facts, git_facts, run_and_tee
from tools.fsutil import (
    CHUNK_BYTES,
    atomic_write_text,
    inside,
    iso_utc,
    repo_lock,
    sha256_file,
    utc_stamp,
    validate_item_id,
)
from tools.output import EXIT_FAILED, ToolError
from tools.pytest_outcome import is_pytest_command, parse_collect_output, parse_outcome
from tools.records import (
    ArtifactRecord,
    AttemptRecord,
    Blocker,
    CollectionRecord,
    Mode,
    PytestOutcome,
    RunRecord,
)

LEDGER_NAME = "fix_plan.md"
MODES: tuple[str, ...] = ("TDD", "Parity", "Perf", "Docs")
FINISH_STATUSES = ("complete", "blocked", "partial")
_HEADING_ID = re.compile(r"^#{2,3}\s+\[([A-Z0-9][A-Z0-9-]*)\]", re.M)
_NAME_OK = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# `E   KeyError: 'diff3d'`, `ValueError: ...`, or pytest's own `ERROR: file or directory not found`
_SIGNATURE_LINE = re.compile(
    r"^(E\s+)?([A-Za-z_][\w.]*(Error|Exception|Failed|Interrupt)\b.*|ERROR: .*)$"
)


# -- names and ids --------------------------------------------------------------------------
def sanitize_slug(text: str) -> str:
    """A slug of [a-z0-9-]; path syntax (`/`, `..`, `\\`) is refused, not silently rewritten."""
    if "/" in text or "\\" in text or ".." in text:
        raise ToolError(f"invalid slug {text!r}: must not contain '/', '\\\\' or '..'")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-")
    if not slug:
        raise ToolError(f"invalid slug {text!r}: expected letters or digits")
    return slug


def _check_name(name: str) -> str:
    if "/" in name or "\\" in name or ".." in name or not _NAME_OK.match(name):
        raise ToolError(
            f"invalid run name {name!r}: expected [a-z0-9._-], starting with a letter or digit"
        )
    return name


def known_item_ids(root: Path) -> set[str]:
    """IDs in `fix_plan.md` (via `tools.ledger` when present) plus initiatives with a plan.md."""
    ids: set[str] = set()
    ledger_path = root / LEDGER_NAME
    if ledger_path.is_file():
        try:
            from tools.ledger import item_ids
        except ImportError:
            text = ledger_path.read_text(encoding="utf-8", errors="replace")
            ids |= set(_HEADING_ID.findall(text))
        else:
            ids |= item_ids(ledger_path)
    active = active_dir(root)
    if active.is_dir():
        ids |= {path.parent.name for path in active.glob("*/plan.md")}
    return ids


def focus_slug(focus: str, words: int = 5, limit: int = 40) -> str | None:
    """The default hub name: the focus's first words as a slug (a hub named for its work, not
    "attempt-7"); None when the focus has no letters or digits."""
    text = " ".join(re.findall(r"[A-Za-z0-9]+", focus)[:words])
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return slug or None


# -- start ----------------------------------------------------------------------------------
def start(
    *, root: Path, item_id: str, focus: str, mode: Mode = "TDD", slug: str | None = None
) -> AttemptRecord:
    """Open attempt #n of `item_id`: create the hub, write attempt.json, make it current."""
    validate_item_id(item_id)
    if mode not in MODES:
        raise ToolError(f"invalid mode {mode!r}: expected one of {', '.join(MODES)}")
    if not focus.strip():
        raise ToolError("--focus must not be empty")
    known = known_item_ids(root)
    if item_id not in known:
        listed = ", ".join(sorted(known)[:20]) or "none"
        raise ToolError(
            f"unknown item {item_id!r}: not in {LEDGER_NAME} and no plans/active/{item_id}/plan.md"
            f" (known: {listed})"
        )
    clean_slug = sanitize_slug(slug) if slug is not None else None
    with repo_lock(root):
        number = next_number(root, item_id)
        chosen = clean_slug or focus_slug(focus) or f"attempt-{number}"
        stamp = utc_stamp()
        hub = reports_dir(root, item_id) / stamp / chosen
        if hub.exists():  # same slug in the same second: keep both, numbered
            chosen = f"{chosen}-{number}"
            hub = hub.parent / chosen
        ensure_in_plans(root, hub)
        for sub in HUB_SUBDIRS:
            (hub / sub).mkdir(parents=True, exist_ok=True)
        record = AttemptRecord(
            item_id=item_id,
            number=number,
            slug=chosen,
            focus=" ".join(focus.split()),
            mode=mode,
            hub=hub.relative_to(root).as_posix(),
            started_at=iso_utc(),
        )
        save_record(root, record)
        set_current(root, record)
    return record


# -- run and collect -------------------------------------------------------------------------
def _open_record(root: Path) -> AttemptRecord:
    record = current_record(root)
    if record.status != "open":
        raise ToolError(f"attempt #{record.number} of {record.item_id} is already {record.status}")
    return record


def _reserve_log(root: Path, record: AttemptRecord, kind: str, name: str | None) -> Path:
    """Create `<hub>/<kind>/<name>.log` exclusively (under the lock) so names never collide."""
    folder = ensure_in_plans(root, hub_dir(root, record) / kind)
    folder.mkdir(parents=True, exist_ok=True)
    # A taken name (a re-run after a fix, say) gets a numbered suffix: earlier evidence is
    # never overwritten, and the agent does not have to invent a new name.
    stem = _check_name(name) if name is not None else kind
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


def _captured_fields(captured, log_path: Path, hub: Path) -> dict:
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


def run_verdict(
    kind: str, exit_code: int, outcome: PytestOutcome | None, expected_exit: int = 0
) -> tuple[bool, str]:
    """Is this run the evidence that was asked for? Returns (valid, verdict text)."""
    if kind == "cli":
        ok = exit_code == expected_exit
        return ok, f"exit {exit_code}" + ("" if ok else f" (expected {expected_exit})")
    if outcome is None or outcome.source == "none":
        return False, f"no pytest outcome found (exit {exit_code}): tests did not run to the end"
    if outcome.ran == 0 and outcome.errors == 0:
        return False, f"invalid {kind.upper()}: no test ran (pytest exit {exit_code})"
    if kind == "red":
        if outcome.errors:
            return False, f"invalid RED: {outcome.errors} error(s) (collection/import/setup)"
        if outcome.assertion_failures == 0:
            if outcome.failed:
                kinds = sorted({f.exception or "?" for f in outcome.failures})
                return False, f"invalid RED: failures are not assertions ({', '.join(kinds)})"
            return False, f"invalid RED: no test failed ({outcome.passed} passed)"
        return True, f"RED: {outcome.assertion_failures} assertion failure(s)"
    # green
    if exit_code != 0:
        return False, f"not GREEN: pytest exit {exit_code}"
    if outcome.failed or outcome.errors:
        return False, f"not GREEN: {outcome.failed} failed, {outcome.errors} error(s)"
    if outcome.passed == 0:
        return False, "not GREEN: no test passed"
    return True, f"GREEN: {outcome.passed} passed"


@dataclass
class RunResult:
    record: AttemptRecord
    run: RunRecord


def run(
    *,
    root: Path,
    kind: Literal["red", "green", "cli"],
    argv: list[str],
    name: str | None = None,
    shell: bool = False,
    expected_exit: int = 0,
    echo: BinaryIO | None = None,
    cwd: Path | None = None,
) -> RunResult:
    """Run `argv`, tee it to `<hub>/<kind>/<name>.log`, parse pytest, record the verdict."""
    if kind not in ("red", "green", "cli"):
        raise ToolError(f"invalid kind {kind!r}: expected red, green or cli")
    if not argv:
        raise ToolError("no command given: put it after `--`, e.g. `-- pytest tests/x.py`")
    with repo_lock(root):
        record = _open_record(root)
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
        except ToolError:
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
        raise ToolError(
            f"collect needs a pytest command (pytest, py.test, python -m pytest), found {argv[:3]}"
        )
    with repo_lock(root):
        record = _open_record(root)
        log_path = _reserve_log(root, record, "collect", name)
    argv_run = list(argv)
    for flag in ("--collect-only", "-q"):
        if flag not in argv_run:
            argv_run.append(flag)
    try:
        captured = run_and_tee(argv_run, cwd=cwd or Path.cwd(), log_path=log_path, echo=echo)
    except ToolError:
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


# -- artifacts and blockers ------------------------------------------------------------------
def _copy_hashing(source: Path, target: Path) -> tuple[int, str]:
    """Copy in 64 KiB chunks to a temp file, hashing as we go, then rename into place."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    tmp = target.with_name(f".{target.name}.tmp")
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            dst.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, target)
    return size, digest.hexdigest()


def artifact(
    *, root: Path, paths: list[Path], into: Literal["data", "analysis"] = "data"
) -> list[ArtifactRecord]:
    """Copy files into `<hub>/<into>/`, recording size and SHA-256 of each."""
    if into not in ("data", "analysis"):
        raise ToolError(f"invalid --into {into!r}: expected data or analysis")
    if not paths:
        raise ToolError("no artifact paths given")
    sources = []
    for path in paths:
        if not path.is_file():
            raise ToolError(f"{path}: not a file")
        sources.append(path)
    added: list[ArtifactRecord] = []
    with repo_lock(root):
        record = _open_record(root)
        hub = hub_dir(root, record)
        folder = ensure_in_plans(root, hub / into)
        folder.mkdir(parents=True, exist_ok=True)
        taken = {item.path for item in record.artifacts}
        for source in sources:
            target = folder / source.name
            if not inside(target, folder) or source.name in ("", ".", ".."):
                raise ToolError(f"{source}: would be written outside the hub")
            relative = target.relative_to(hub).as_posix()
            if relative in taken:
                raise ToolError(f"{relative} is already an artifact of this attempt")
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


def signature_from_log(log: Path) -> str | None:
    """The last exception line (`E   KeyError: 'diff3d'`, `ValueError: ...`) of a log."""
    found = None
    with open(log, "rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace").strip()
            match = _SIGNATURE_LINE.match(line)
            if match:
                found = match.group(2).strip()
    return found


def block(
    *,
    root: Path,
    signature: str | None,
    root_cause: str,
    fixes: list[str],
    evidence: Path | None = None,
) -> Blocker:
    """Record why the attempt is blocked; the signature may be pulled from a captured log."""
    if not root_cause.strip():
        raise ToolError("--root-cause must not be empty")
    if not fixes or not all(fix.strip() for fix in fixes):
        raise ToolError("at least one non-empty --fix is required")
    with repo_lock(root):
        record = _open_record(root)
        hub = hub_dir(root, record)
        evidence_rel = None
        if evidence is not None:
            candidate = evidence if evidence.is_absolute() else (Path.cwd() / evidence)
            if not candidate.is_file():
                candidate = hub / evidence
            if not candidate.is_file() or not inside(candidate, hub):
                raise ToolError(
                    f"--evidence {evidence}: expected a log inside the hub {record.hub}"
                )
            evidence_rel = candidate.resolve().relative_to(hub.resolve()).as_posix()
            if not signature:
                signature = signature_from_log(candidate)
                if not signature:
                    raise ToolError(f"{evidence}: no error signature found; pass --signature")
        if not signature or not signature.strip():
            raise ToolError("--signature is required (or --evidence LOG to pull it from)")
        blocker = Blocker(
            signature=" ".join(signature.split()),
            root_cause=" ".join(root_cause.split()),
            fixes=[" ".join(fix.split()) for fix in fixes],
            evidence=evidence_rel,
            recorded_at=iso_utc(),
        )
        record.blocker = blocker
        save_record(root, record)
    return blocker


# -- finish ----------------------------------------------------------------------------------
def completion_problems(record: AttemptRecord) -> list[str]:
    """Why `complete` is refused: no valid GREEN, or (TDD) no valid RED before it."""
    greens = [run.sequence for run in record.runs if run.kind == "green" and run.valid]
    if not greens:
        return ["no valid GREEN run in this attempt"]
    if record.mode == "TDD":
        reds = [run.sequence for run in record.runs if run.kind == "red" and run.valid]
        if not reds or min(reds) > max(greens):
            return ["TDD mode: no valid RED captured before the GREEN in this attempt"]
    return []


def evidence_line(record: AttemptRecord) -> str:
    """Counts for the ledger entry: `RED 2 failed; GREEN 5 passed; collect 5`."""
    parts = []
    for kind, label in (("red", "RED"), ("green", "GREEN")):
        runs = [run for run in record.runs if run.kind == kind and run.pytest is not None]
        if runs:
            last = runs[-1].pytest
            count = last.failed if kind == "red" else last.passed
            word = "failed" if kind == "red" else "passed"
            parts.append(f"{label} {count} {word}{'' if runs[-1].valid else ' (invalid)'}")
    if record.collections:
        parts.append(f"collected {record.collections[-1].count}")
    return "; ".join(parts)


def render_summary(record: AttemptRecord) -> str:
    """summary.md from the record through `templates/summary.md.j2`."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=False,  # Markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
    template = env.get_template("summary.md.j2")
    return template.render(record=record, evidence=evidence_line(record), metrics=_metrics(record))


def _metrics(record: AttemptRecord) -> dict[str, object]:
    runs = record.runs
    return {
        "runs": len(runs),
        "valid runs": sum(run.valid for run in runs),
        "collections": len(record.collections),
        "command time (s)": round(sum(run.duration_s for run in runs), 3),
        "tests passed (last GREEN)": next(
            (run.pytest.passed for run in reversed(runs) if run.kind == "green" and run.pytest),
            0,
        ),
        "artifacts": len(record.artifacts),
        "artifact bytes": sum(item.size for item in record.artifacts),
    }


def _append_ledger(root: Path, record: AttemptRecord) -> tuple[bool, str | None]:
    """Append the attempt entry to fix_plan.md when the ledger module exists (caller holds lock)."""
    ledger_path = root / LEDGER_NAME
    try:
        from tools.ledger import AttemptEntry, append_attempt_entry
    except ImportError:
        return False, "tools.ledger not available"
    if not ledger_path.is_file():
        return False, f"{LEDGER_NAME} not found"
    entry = AttemptEntry(
        timestamp=record.finished_at or iso_utc(),
        number=record.number,
        focus=record.focus,
        mode=record.mode,
        result=record.status,
        evidence=evidence_line(record),
        artifacts=record.hub,
        next=record.next or "",
    )
    try:
        append_attempt_entry(ledger_path, record.item_id, entry, lock=False)
    except ToolError as exc:  # e.g. an initiative that has no ledger item
        return False, str(exc)
    return True, None


@dataclass
class FinishResult:
    record: AttemptRecord
    summary: Path
    ledger_note: str | None = None
    problems: list[str] = field(default_factory=list)


def finish(
    *,
    root: Path,
    status: Literal["complete", "blocked", "partial"] = "complete",
    next_step: str | None = None,
) -> FinishResult:
    """Close the current attempt: check the evidence, render summary.md, append to the ledger."""
    if status not in FINISH_STATUSES:
        raise ToolError(f"invalid --status {status!r}: expected {', '.join(FINISH_STATUSES)}")
    with repo_lock(root):
        record = _open_record(root)
        problems = completion_problems(record) if status == "complete" else []
        if status == "blocked" and record.blocker is None:
            problems = ["status blocked needs a blocker record: run `tools attempt block` first"]
        if problems:
            raise ToolError(
                f"refusing --status {status}: " + "; ".join(problems),
                exit_code=EXIT_FAILED,
                data={"problems": problems},
            )
        record.status = status
        record.finished_at = iso_utc()
        record.next = " ".join(next_step.split()) if next_step else None
        appended, note = _append_ledger(root, record)
        record.ledger_appended = appended
        save_record(root, record)
        summary = ensure_in_plans(root, hub_dir(root, record) / "summary.md")
        atomic_write_text(summary, render_summary(record))
        clear_current(root, record)
    return FinishResult(record=record, summary=summary, ledger_note=note)


# -- show, list, verify ----------------------------------------------------------------------
def show(*, root: Path, item_id: str | None = None, number: int | None = None) -> AttemptRecord:
    """The current attempt, or attempt `number` (latest when omitted) of `item_id`."""
    if item_id is None:
        if number is not None:
            raise ToolError("--number needs an ITEM_ID")
        return current_record(root)
    validate_item_id(item_id)
    if number is not None:
        return find_record(root, item_id, number)
    records = list_attempts(root, item_id)
    if not records:
        raise ToolError(f"no attempts recorded for {item_id}")
    return records[-1]


def list_records(*, root: Path, item_id: str | None = None) -> list[AttemptRecord]:
    return list_attempts(root, validate_item_id(item_id)) if item_id else all_attempts(root)


@dataclass
class VerifyProblem:
    hub: str
    path: str
    problem: str  # "missing" | "modified"
    expected: str
    found: str | None

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _recorded_files(record: AttemptRecord) -> list[tuple[str, str]]:
    files = []
    for run in record.runs:
        files.append((run.log, run.log_sha256))
        if run.junit and run.junit_sha256:
            files.append((run.junit, run.junit_sha256))
    files += [(item.log, item.log_sha256) for item in record.collections]
    files += [(item.path, item.sha256) for item in record.artifacts]
    return files


def verify(*, root: Path, item_id: str | None = None) -> tuple[int, list[VerifyProblem]]:
    """Recompute every recorded hash; returns (files checked, problems found)."""
    records = list_records(root=root, item_id=item_id)
    checked = 0
    problems: list[VerifyProblem] = []
    for record in records:
        hub = hub_dir(root, record)
        for relative, expected in _recorded_files(record):
            checked += 1
            path = hub / relative
            if not inside(path, hub):
                problems.append(VerifyProblem(record.hub, relative, "outside hub", expected, None))
            elif not path.is_file():
                problems.append(VerifyProblem(record.hub, relative, "missing", expected, None))
            else:
                found = sha256_file(path)
                if found != expected:
                    problems.append(
                        VerifyProblem(record.hub, relative, "modified", expected, found)
                    )
    return checked, problems


def default_echo(as_json: bool) -> BinaryIO:
    """Command output goes to the terminal; to stderr under --json so stdout stays one object."""
    stream = sys.stderr if as_json else sys.stdout
    return stream.buffer


__all__ = [
    "artifact",
    "block",
    "collect",
    "completion_problems",
    "finish",
    "list_records",
    "render_summary",
    "run",
    "focus_slug",
    "sanitize_slug",
    "show",
    "start",
    "verify",
]
