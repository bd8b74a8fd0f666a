"""The session report: what the records hold since a time, each entry naming its record.

Sources, all read as JSON (no library import, no torch): attempt records under plans/active
(finished attempts with each run's verdict and evidence counts; blockers), QC records
(`qc.json`, `<stem>.qc.json`) and gate reports (`gate_report.json`) under the budget's
`job_dirs`, readiness reports (`plans/readiness/<STAGE>/<UTC>/report.json`), the budget
(`tools budget`), item readiness from the ledger and attempts (gates are not run here: their
results are the gate reports listed) and `plan next`. An entry's `record` is
`path[#JSON pointer]` or `path:line`; the report makes no statement that is not a field of one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.budget.records import Attempt, parse_utc, read_json, record_files, rel


class RunEntry(BaseModel):
    name: str
    kind: str
    verdict: str
    valid: bool
    exit_code: int | None
    cpu_s: float | None
    record: str


class AttemptEntry(BaseModel):
    attempt: str
    status: str
    finished_at: str | None
    runs: list[RunEntry]
    valid_runs: int
    collections: int
    artifacts: int
    record: str


class CheckEntry(BaseModel):
    """A QC record or a gate/readiness report: passed, and the items that did not pass."""

    kind: str  # qc | gate | readiness
    name: str
    target: str
    passed: bool
    failing: list[str]
    at: str
    record: str


class BlockerEntry(BaseModel):
    attempt: str
    signature: str
    root_cause: str
    at: str
    record: str


class BudgetEntry(BaseModel):
    item: str
    used: float
    used_since: float
    budget: float | None
    remaining: float | None
    jobs: int
    records: list[str]


class ReadinessEntry(BaseModel):
    item: str
    ready: bool
    reasons: list[str]
    record: str


class NextEntry(BaseModel):
    item: str
    title: str
    priority: int | None
    record: str


class SessionReport(BaseModel):
    since: str | None
    generated_at: str
    currency: str
    attempts: list[AttemptEntry]
    qc: list[CheckEntry]
    gates: list[CheckEntry]
    readiness_reports: list[CheckEntry]
    readiness: list[ReadinessEntry]
    blockers: list[BlockerEntry]
    budget: list[BudgetEntry]
    next: NextEntry | None


def _after(text: Any, since: datetime | None) -> bool:
    moment = parse_utc(text)
    return moment is not None and (since is None or moment >= since)


def attempt_entries(attempts: list[Attempt], since: datetime | None) -> list[AttemptEntry]:
    """Attempts finished since `since`, with every captured run's verdict."""
    out = []
    for a in attempts:
        if a.finished_at is None or not _after(a.finished_at, since):
            continue
        runs = [
            RunEntry(
                name=str(r.get("name", "")),
                kind=str(r.get("kind", "")),
                verdict=str(r.get("verdict", "")),
                valid=bool(r.get("valid", False)),
                exit_code=r.get("exit_code"),
                cpu_s=r.get("cpu_s"),
                record=f"{a.path}#/runs/{i}",
            )
            for i, r in enumerate(a.runs)
        ]
        out.append(
            AttemptEntry(
                attempt=a.attempt_id,
                status=a.status,
                finished_at=a.finished_at,
                runs=runs,
                valid_runs=sum(r.valid for r in runs),
                collections=a.collections,
                artifacts=a.artifacts,
                record=a.path,
            )
        )
    return out


def blocker_entries(attempts: list[Attempt], since: datetime | None) -> list[BlockerEntry]:
    return [
        BlockerEntry(
            attempt=a.attempt_id,
            signature=str(a.blocker.get("signature", "")),
            root_cause=str(a.blocker.get("root_cause", "")),
            at=str(a.blocker.get("recorded_at", "")),
            record=f"{a.path}#/blocker",
        )
        for a in attempts
        if a.blocker and _after(a.blocker.get("recorded_at"), since)
    ]


def _check_entry(kind: str, path: Path, root: Path, since: datetime | None) -> CheckEntry | None:
    data = read_json(path)
    if not isinstance(data, dict) or "passed" not in data or "items" not in data:
        return None
    at = data.get("created_utc") or data.get("created_at")
    if not _after(at, since):
        return None
    failing = data.get("failing")
    if failing is None:
        failing = [i.get("name", "") for i in data["items"] if i.get("verdict") != "pass"]
    return CheckEntry(
        kind=kind,
        name=str(data.get("gate", kind)),
        target=str(data.get("target", "")),
        passed=bool(data["passed"]),
        failing=[str(f) for f in failing],
        at=str(at),
        record=rel(root, path),
    )


def _is_qc(folder: Path, name: str) -> bool:
    return name == "qc.json" or name.endswith(".qc.json")


def _is_gate(folder: Path, name: str) -> bool:
    return name == "gate_report.json"


def check_entries(
    root: Path, dirs: list[str], plans: Path, since: datetime | None
) -> tuple[list[CheckEntry], list[CheckEntry], list[CheckEntry]]:
    """(QC records, gate reports, readiness reports) since `since`, oldest first."""

    def found(kind: str, paths: list[Path]) -> list[CheckEntry]:
        entries = [_check_entry(kind, p, root, since) for p in paths]
        return sorted((e for e in entries if e is not None), key=lambda e: (e.at, e.record))

    readiness_dir = plans / "readiness"
    ready = sorted(readiness_dir.glob("*/*/report.json")) if readiness_dir.is_dir() else []
    return (
        found("qc", record_files(root, dirs, _is_qc)),
        found("gate", record_files(root, dirs, _is_gate)),
        found("readiness", ready),
    )
