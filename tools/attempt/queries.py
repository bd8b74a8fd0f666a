"""`tools attempt show`, `list` and `verify`: read records back and re-check their hashes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ptycho_nl.io_utils import sha256_file
from tools.attempt.records import AttemptRecord
from tools.attempt.store import (
    all_attempts,
    current_record,
    find_record,
    hub_dir,
    list_attempts,
)
from tools.common.fsutil import inside, validate_item_id
from tools.common.output import CommandError


def show(*, root: Path, item_id: str | None = None, number: int | None = None) -> AttemptRecord:
    """The current attempt, or attempt `number` (latest when omitted) of `item_id`."""
    if item_id is None:
        if number is not None:
            raise CommandError("--number needs an ITEM_ID")
        return current_record(root)
    validate_item_id(item_id)
    if number is not None:
        return find_record(root, item_id, number)
    records = list_attempts(root, item_id)
    if not records:
        raise CommandError(f"no attempts recorded for {item_id}")
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
