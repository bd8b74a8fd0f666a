"""Where attempt records live: hub paths, the current-attempt pointer, loading and saving.

Layout (specs/attempt_reports.md, "Hub layout"): `plans/active/<ID>/reports/<YYYY-MM-DDTHHMMSSZ>/<slug>/attempt.json`.
The pointer `plans/active/.current_attempt.json` names the hub later verbs act on. Callers that
read-modify-write a record hold `tools.common.fsutil.repo_lock(root)`; this module does not lock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from ptycho_nl.io_utils import atomic_write_text
from tools.attempt.records import AttemptRecord
from tools.common.fsutil import inside
from tools.common.layout import active_dir, plans_dir, reports_dir
from tools.common.output import CommandError

RECORD_NAME = "attempt.json"
POINTER_NAME = ".current_attempt.json"
ATTEMPT_ENV = "TOOLS_ATTEMPT"
HUB_SUBDIRS = ("red", "green", "collect", "cli", "data", "analysis")


def pointer_path(root: Path) -> Path:
    return active_dir(root) / POINTER_NAME


def ensure_in_plans(root: Path, path: Path) -> Path:
    """Every path the tool writes must lie under `plans/`; anything else is refused."""
    if not inside(path, plans_dir(root)):
        raise CommandError(f"refusing to write outside plans/: {path}")
    return path


def load_record(path: Path) -> AttemptRecord:
    """Read and validate one `attempt.json`; a damaged record is an input error naming the file."""
    try:
        return AttemptRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"{path}: attempt record not found") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise CommandError(
            f"{path}: invalid attempt record at {where}: {first['msg']} ({exc.error_count()} "
            "problem(s))"
        ) from None


def save_record(root: Path, record: AttemptRecord) -> Path:
    """Atomically write the record into its hub (under the caller's lock)."""
    path = ensure_in_plans(root, root / record.hub / RECORD_NAME)
    atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
    return path


def hub_dir(root: Path, record: AttemptRecord) -> Path:
    return root / record.hub


def list_attempts(root: Path, item_id: str) -> list[AttemptRecord]:
    """All attempts of one item, sorted by attempt number (empty when there are none)."""
    base = reports_dir(root, item_id)
    records = [load_record(path) for path in base.glob(f"*/*/{RECORD_NAME}")]
    return sorted(records, key=lambda record: record.number)


def latest_attempt(root: Path, item_id: str) -> AttemptRecord | None:
    """The attempt with the highest number, or None."""
    records = list_attempts(root, item_id)
    return records[-1] if records else None


def all_attempts(root: Path) -> list[AttemptRecord]:
    """Every attempt in the repository, sorted by (item, number)."""
    records = [load_record(path) for path in active_dir(root).glob(f"*/reports/*/*/{RECORD_NAME}")]
    return sorted(records, key=lambda record: (record.item_id, record.number))


def next_number(root: Path, item_id: str) -> int:
    """1 + the highest attempt number of the item (call under the lock so numbers are unique)."""
    latest = latest_attempt(root, item_id)
    return 1 if latest is None else latest.number + 1


def set_current(root: Path, record: AttemptRecord) -> None:
    pointer = {"item_id": record.item_id, "number": record.number, "hub": record.hub}
    atomic_write_text(ensure_in_plans(root, pointer_path(root)), json.dumps(pointer) + "\n")


def clear_current(root: Path, record: AttemptRecord) -> None:
    """Remove the pointer if it still names `record` (another attempt may have started since)."""
    path = pointer_path(root)
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return
    if pointer.get("hub") == record.hub:
        path.unlink(missing_ok=True)


def current_record(root: Path) -> AttemptRecord:
    """The attempt named by $TOOLS_ATTEMPT (a hub path) or else by the pointer file.

    $TOOLS_ATTEMPT lets two agents in one repository each keep their own current attempt.
    """
    override = os.environ.get(ATTEMPT_ENV)
    if override:
        hub_path = Path(override) if Path(override).is_absolute() else root / override
        if not inside(hub_path, active_dir(root)):
            raise CommandError(f"${ATTEMPT_ENV}={override!r} is not a hub under plans/active")
        return load_record(hub_path / RECORD_NAME)
    path = pointer_path(root)
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(
            "no current attempt: run `tools attempt start ITEM_ID --focus TEXT`"
        ) from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path}: not valid JSON ({exc.msg})") from None
    hub = pointer.get("hub") if isinstance(pointer, dict) else None
    if not isinstance(hub, str):
        raise CommandError(f"{path}: key 'hub' expected a string, found {hub!r}")
    hub_path = root / hub
    if not inside(hub_path, active_dir(root)):
        raise CommandError(f"{path}: key 'hub' points outside plans/active: {hub!r}")
    return load_record(hub_path / RECORD_NAME)


def find_record(root: Path, item_id: str, number: int) -> AttemptRecord:
    for record in list_attempts(root, item_id):
        if record.number == number:
            return record
    raise CommandError(
        f"attempt #{number} of {item_id} not found under {reports_dir(root, item_id)}"
    )


def open_record(root: Path) -> AttemptRecord:
    """The current attempt, which must still be open (verbs that add evidence need one)."""
    record = current_record(root)
    if record.status != "open":
        raise CommandError(
            f"attempt #{record.number} of {record.item_id} is already {record.status}"
        )
    return record
