"""Verify the record, not only bytes: `tools attempt verify` and the repository-wide `tools verify`.

For every hub: attempt.json exists, validates, carries an intact seal and is byte for byte what
the tool writes; every recorded file has its recorded SHA-256; every run's and collection's
verdict, counts and interpreter re-derive from its stored JUnit, probe report and log exactly
as recorded; times are monotonic and inside the hub's UTC stamp; summary.md renders identically
from the record. Rules: specs/attempt_reports.md, "Verification".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import ValidationError

from ptycho_nl.io_utils import sha256_file
from tools.attempt.binding import launch_files
from tools.attempt.records import SCHEMA_VERSION, SEAL_FIELD, AttemptRecord
from tools.attempt.summary import render_summary
from tools.attempt.verdicts import judge_collection, judge_run
from tools.common.fsutil import inside
from tools.common.layout import active_dir, ledger_path

RECORD_NAME = "attempt.json"
STAMP_FORMAT = "%Y-%m-%dT%H%M%SZ"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
PARALLEL_FROM = 200  # hubs; below this a process pool costs more than it saves
START_SLACK = timedelta(seconds=60)  # `start` stamps the folder, then takes its clock reading
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_HUB_PATH = re.compile(r"plans/active/[A-Z0-9][A-Z0-9-]*/reports/\d{4}-\d\d-\d\dT\d{6}Z/[a-z0-9-]+")


@dataclass
class VerifyProblem:
    """One finding: which hub, which file or field, what is wrong. Warnings do not fail."""

    hub: str
    path: str
    problem: str
    detail: str = ""
    severity: str = "error"

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        where = f"{self.hub}/{self.path}" if self.path else self.hub
        return f"{self.problem}: {where}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class VerifyReport:
    hubs: int
    files: int
    problems: list[VerifyProblem]

    @property
    def errors(self) -> list[VerifyProblem]:
        return [p for p in self.problems if p.severity == "error"]


def _hub_path(root: Path, hub: AttemptRecord | Path | str) -> Path:
    if isinstance(hub, AttemptRecord):
        return root / hub.hub
    path = Path(hub)
    return path if path.is_absolute() else root / path


def _load(hub_rel: str, path: Path) -> tuple[AttemptRecord | None, list[VerifyProblem]]:
    """The record as written (its seal checked, not moved into previous_sha256)."""
    bad = [VerifyProblem(hub_rel, RECORD_NAME, "missing", "the hub has no attempt record")]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, bad
    except (OSError, UnicodeDecodeError) as exc:
        return None, [VerifyProblem(hub_rel, RECORD_NAME, "unreadable", str(exc))]
    try:
        raw = json.loads(text)
        claimed = raw.pop(SEAL_FIELD, None) if isinstance(raw, dict) else None
        record = AttemptRecord.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        return None, [VerifyProblem(hub_rel, RECORD_NAME, "invalid record", first)]
    if claimed is None or record.schema_version < SCHEMA_VERSION:
        if _written_by_schema_2(record):  # a seal stripped to pass as legacy: no downgrade
            return record, [VerifyProblem(hub_rel, RECORD_NAME, "seal missing", "schema 2 data")]
        note = f"schema {record.schema_version}, unsealed: file hashes checked, evidence unbound"
        return record, [VerifyProblem(hub_rel, RECORD_NAME, "legacy record", note, "warning")]
    if record.record_sha256 != claimed:
        return record, [
            VerifyProblem(hub_rel, RECORD_NAME, "seal broken", "edited after the tool wrote it")
        ]
    if record.model_dump_json(indent=2) + "\n" != text:
        return record, [
            VerifyProblem(hub_rel, RECORD_NAME, "not as written", "bytes differ from the record")
        ]
    return record, []


def _written_by_schema_2(record: AttemptRecord) -> bool:
    """Fields only the binding-era tool fills: a record carrying them was sealed."""
    entries = [*record.runs, *record.collections]
    return record.previous_sha256 is not None or any(
        e.command or e.probe or e.interpreter or (e.git is not None and e.git.tree) for e in entries
    )


def _recorded_files(record: AttemptRecord) -> list[tuple[str, str]]:
    files = []
    for entry in [*record.runs, *record.collections]:
        files.append((entry.log, entry.log_sha256))
        for path, digest in ((entry.junit, entry.junit_sha256), (entry.probe, entry.probe_sha256)):
            if path and digest:
                files.append((path, digest))
    files += [(item.path, item.sha256) for item in record.artifacts]
    return files


def _file_problems(hub: Path, hub_rel: str, record: AttemptRecord) -> list[VerifyProblem]:
    problems = []
    folders: dict[Path, bool] = {hub: True}  # a hub has a handful of folders: look once each

    def contained(path: Path) -> bool:
        # Relative paths without `..` stay inside unless a folder or the file is a symlink.
        if path.parent not in folders:
            folders[path.parent] = path.parent.parent == hub and not path.parent.is_symlink()
        return folders[path.parent] and not path.is_symlink()

    for relative, expected in _recorded_files(record):
        path = hub / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts or not contained(path):
            problems.append(VerifyProblem(hub_rel, relative, "outside hub"))
        elif not path.is_file():
            problems.append(VerifyProblem(hub_rel, relative, "missing", f"sha256 {expected}"))
        elif sha256_file(path) != expected:
            problems.append(VerifyProblem(hub_rel, relative, "modified", f"sha256 {expected}"))
    return problems


def _asked(hub: Path, log: str, command: list[str], argv: list[str]) -> tuple[Path | None, ...]:
    """The JUnit and probe paths the tool asked pytest for (none when it ran the command as
    given): whether or not the files were written, the verdict was judged with these paths."""
    if command == argv or not command:
        return None, None
    return launch_files(hub / log)


def _derivation_problems(hub: Path, hub_rel: str, record: AttemptRecord) -> list[VerifyProblem]:
    """Each verdict, outcome and interpreter re-derived from the stored files."""
    problems = []
    for run in record.runs:
        junit, probe = _asked(hub, run.log, run.command, run.argv)
        judged = judge_run(
            run.kind,
            exit_code=run.exit_code,
            signal_number=run.signal,
            interrupted=run.interrupted,
            expected_exit=run.expected_exit if run.expected_exit is not None else 0,
            log=hub / run.log,
            junit=junit,
            probe=probe,
            resolved=run.interpreter.resolved if run.interpreter else None,
        )
        derived = (judged.valid, judged.verdict, judged.outcome, judged.interpreter)
        if derived != (run.valid, run.verdict, run.pytest, run.interpreter):
            detail = f"recorded {run.verdict!r}, files say {judged.verdict!r}"
            if (judged.valid, judged.verdict) == (run.valid, run.verdict):
                detail = "counts or interpreter differ from the JUnit/probe files"
            problems.append(VerifyProblem(hub_rel, run.log, "verdict differs", detail))
    for item in record.collections:
        junit, probe = _asked(hub, item.log, item.command, item.argv)
        judged = judge_collection(
            exit_code=item.exit_code,
            interrupted=item.interrupted,
            log=hub / item.log,
            junit=junit,
            probe=probe,
            resolved=item.interpreter.resolved if item.interpreter else None,
        )
        if (judged.valid, judged.verdict, judged.node_ids) != (
            item.valid,
            item.verdict,
            item.node_ids,
        ) or item.count != len(item.node_ids):
            detail = f"recorded {item.verdict!r}, files say {judged.verdict!r}"
            problems.append(VerifyProblem(hub_rel, item.log, "verdict differs", detail))
    return problems


def _time(text: str | None) -> str | None:
    """The time itself when it is the tool's ISO-8601 UTC form (which sorts as it reads)."""
    return text if text is not None and _ISO.fullmatch(text) else None


def _time_problems(hub: Path, hub_rel: str, record: AttemptRecord) -> list[VerifyProblem]:
    def bad(detail: str) -> VerifyProblem:
        return VerifyProblem(hub_rel, RECORD_NAME, "times", detail)

    try:
        stamp = datetime.strptime(hub.parent.name, STAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return [bad(f"hub folder {hub.parent.name!r} is not a UTC stamp")]
    earliest, latest = (f"{moment:{ISO_FORMAT}}" for moment in (stamp, stamp + START_SLACK))
    started, finished = _time(record.started_at), _time(record.finished_at)
    if started is None or not earliest <= started <= latest:
        return [bad(f"started_at {record.started_at} is not inside the hub stamp {earliest}")]
    if record.finished_at is not None and (finished is None or finished < started):
        return [bad(f"finished_at {record.finished_at} is before started_at")]
    end = finished or "9999"
    problems = []
    for entry in [*record.runs, *record.collections]:
        begin, stop = _time(entry.started_at), _time(entry.finished_at)
        if begin is None or stop is None or not started <= begin <= stop <= end:
            problems.append(bad(f"{entry.log}: {entry.started_at}..{entry.finished_at}"))
    stamps = [item.added_at for item in record.artifacts]
    stamps += [record.blocker.recorded_at] if record.blocker else []
    for moment in stamps:
        parsed = _time(moment)
        if parsed is None or not started <= parsed <= end:
            problems.append(bad(f"{moment} is outside the attempt"))
    sequences = sorted(entry.sequence for entry in [*record.runs, *record.collections])
    if sequences != list(range(1, len(sequences) + 1)):
        problems.append(bad(f"sequences {sequences} are not 1..n"))
    return problems


def _summary_problems(hub: Path, hub_rel: str, record: AttemptRecord) -> list[VerifyProblem]:
    path = hub / "summary.md"
    if not path.is_file():
        if record.status in ("complete", "blocked", "partial"):
            return [VerifyProblem(hub_rel, "summary.md", "missing", f"status {record.status}")]
        return []
    # Either renderer's output from this record: today's, or the one before the evidence line
    # counted valid runs (2026-12-04), which hubs sealed earlier hold. Both are functions of
    # the record alone, so accepting either lets no hand edit through.
    text = path.read_bytes()
    today = render_summary(record).encode("utf-8")
    # The earlier form is rendered only when today's does not match.
    if text != today and text != render_summary(record, validity=False).encode("utf-8"):
        return [VerifyProblem(hub_rel, "summary.md", "summary differs", "not rendered from it")]
    return []


def verify_hub(
    root: Path, hub: AttemptRecord | Path | str, *, active: Path | None = None
) -> list[VerifyProblem]:
    """Every problem of one hub (a record, or its path absolute or relative to `root`);
    legacy (unsealed, schema 1) records give a warning: callers needing a verified attempt
    treat any entry as "not verified". `active` is the hubs' root folder when already known."""
    return _check_hub(root, _hub_path(root, hub), active or active_dir(root))[0]


def _check_hub(root: Path, path: Path, active: Path) -> tuple[list[VerifyProblem], int]:
    """(problems, recorded files checked) of the hub folder `path`."""
    hub_rel = path.relative_to(root).as_posix() if inside(path, root) else str(path)
    if not inside(path, active):
        return [VerifyProblem(hub_rel, "", "outside plans/active")], 0
    if not path.is_dir():
        return [VerifyProblem(hub_rel, "", "missing", "the ledger cites a hub that is gone")], 0
    record, problems = _load(hub_rel, path / RECORD_NAME)
    if record is None:
        return problems, 0
    if record.hub != hub_rel:
        problems.append(VerifyProblem(hub_rel, RECORD_NAME, "moved", f"records hub {record.hub}"))
    problems += _file_problems(path, hub_rel, record)
    checked = len(_recorded_files(record))
    if problems and problems[0].severity == "warning":
        return problems, checked  # legacy: the hashes are all it can show
    for check in (_derivation_problems, _time_problems, _summary_problems):
        problems += check(path, hub_rel, record)
    return problems, checked


def hub_dirs(root: Path, item_id: str | None = None) -> list[Path]:
    """Every hub folder (`<active>/<ID>/reports/<stamp>/<slug>/`), with or without a record."""
    pattern = f"{item_id or '*'}/reports/*/*"
    return sorted(path for path in active_dir(root).glob(pattern) if path.is_dir())


def ledger_hubs(root: Path) -> list[str]:
    """Hub paths the ledger cites (its attempt entries' `Artifacts:`), in order, once each."""
    try:
        text = ledger_path(root).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    return list(dict.fromkeys(match.group(0) for match in _HUB_PATH.finditer(text)))


def _check_hubs(root: Path, active: Path, paths: list[Path]) -> tuple[list[VerifyProblem], int]:
    problems: list[VerifyProblem] = []
    files = 0
    for path in paths:
        found, checked = _check_hub(root, path, active)
        problems += found
        files += checked
    return problems, files


def verify_repository(
    root: Path, *, item_id: str | None = None, ledger: bool = True, workers: int | None = None
) -> VerifyReport:
    """verify_hub for every hub (of one item, or all) and every hub the ledger cites.

    Hundreds of hubs are split over `workers` processes (default: the CPUs, at most 8); the
    report is the same as a serial run's, in the same order."""
    hubs = {path.relative_to(root).as_posix(): path for path in hub_dirs(root, item_id)}
    if ledger:
        for cited in ledger_hubs(root):
            if item_id is None or cited.split("/")[2] == item_id:
                hubs.setdefault(cited, root / cited)
    active = active_dir(root)
    paths = list(hubs.values())
    workers = workers or min(8, os.cpu_count() or 1)
    if workers < 2 or len(paths) < PARALLEL_FROM:
        problems, files = _check_hubs(root, active, paths)
        return VerifyReport(hubs=len(hubs), files=files, problems=problems)
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(paths) // workers)
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    problems, files = [], 0
    with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
        n = len(chunks)
        for found, checked in pool.map(_check_hubs, [root] * n, [active] * n, chunks):
            problems += found
            files += checked
    return VerifyReport(hubs=len(hubs), files=files, problems=problems)


def report_verification(report: VerifyReport, *, as_json: bool) -> None:
    """Print a report through the {ok, data, error} envelope: exit 1 on any error, warnings
    (legacy records) are listed but pass."""
    from tools.common.output import EXIT_FAILED, emit

    data = {
        "hubs": report.hubs,
        "checked": report.files,
        "problems": [p.as_dict() for p in report.errors],
        "warnings": [p.as_dict() for p in report.problems if p.severity != "error"],
    }
    lines = [("warning: " if p.severity != "error" else "") + p.line() for p in report.problems]
    errors = report.errors
    if errors:
        hubs = len({p.hub for p in errors})
        emit(
            ok=False,
            data=data,
            error=f"{len(errors)} problem(s) in {hubs} of {report.hubs} hub(s)",
            as_json=as_json,
            text="\n".join(lines),
            exit_code=EXIT_FAILED,
        )
    summary = f"ok: {report.hubs} hub(s) verified, {report.files} file(s) match their hashes"
    emit(ok=True, data=data, as_json=as_json, text="\n".join([*lines, summary]))
