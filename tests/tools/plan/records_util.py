"""Attempt records written through the attempt engineer's own models and store (no stubs)."""

from __future__ import annotations

from pathlib import Path

from tools.attempt.records import AttemptRecord
from tools.attempt.store import save_record


def write_attempt(
    root: Path,
    item_id: str,
    number: int,
    *,
    status: str = "complete",
    day: str = "2026-11-23",
    next_step: str | None = None,
    blocker: str | None = None,
    green_valid: bool | None = None,
) -> AttemptRecord:
    hub = f"plans/active/{item_id}/reports/{day}T10000{number}Z/attempt-{number}"
    data: dict = {
        "item_id": item_id,
        "number": number,
        "slug": f"attempt-{number}",
        "focus": "work",
        "mode": "TDD",
        "status": status,
        "hub": hub,
        "started_at": f"{day}T10:00:00Z",
        "finished_at": f"{day}T11:00:00Z" if status != "open" else None,
        "next": next_step,
    }
    if blocker:
        data["blocker"] = {
            "signature": blocker,
            "root_cause": "unknown",
            "fixes": ["add fallback"],
            "recorded_at": f"{day}T11:00:00Z",
        }
    if green_valid is not None:
        data["runs"] = [
            {
                "sequence": 1,
                "kind": "green",
                "name": "green",
                "argv": ["pytest"],
                "cwd": ".",
                "started_at": f"{day}T10:10:00Z",
                "finished_at": f"{day}T10:11:00Z",
                "duration_s": 1.0,
                "exit_code": 0 if green_valid else 1,
                "log": "green/green.log",
                "log_sha256": "0" * 64,
                "log_bytes": 0,
                "git": {},
                "env": {"python": "3.11", "platform": "linux"},
                "valid": green_valid,
                "verdict": "GREEN" if green_valid else "not GREEN",
            }
        ]
    record = AttemptRecord.model_validate(data)
    (root / hub).mkdir(parents=True, exist_ok=True)
    save_record(root, record)
    return record
