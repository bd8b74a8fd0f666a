"""Where attempt records live: hub paths, the current-attempt pointer, loading and saving.

Layout (specs/attempt_reports.md, "Hub layout"): `plans/active/<ID>/reports/<YYYY-MM-DDTHHMMSSZ>/<slug>/attempt.json`.
Each agent's pointer (tools.attempt.pointers) names the hub its later verbs act on; `--attempt`
and $TOOLS_ATTEMPT (`<ITEM>#<n>` or a hub path) select one explicitly. Callers that
read-modify-write a record hold `tools.common.fsutil.repo_lock(root)`; this module does not lock.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from ptycho_nl.io_utils import atomic_write_text
from tools.attempt.pointers import (
    agent_name,
    clear_pointers,
    read_pointer,
    write_pointer,
)
from tools.attempt.pointers import pointer_path as _agent_pointer_path
from tools.attempt.records import AttemptRecord
from tools.common.fsutil import inside
from tools.common.layout import active_dir, plans_dir, reports_dir
from tools.common.output import CommandError

RECORD_NAME = "attempt.json"
ATTEMPT_ENV = "TOOLS_ATTEMPT"
_ATTEMPT_ID = re.compile(r"^([A-Z0-9][A-Z0-9-]*)#([0-9]+)$")
HUB_SUBDIRS = ("red", "green", "collect", "cli", "data", "analysis")


def pointer_path(root: Path, agent: str | None = None) -> Path:
    """The pointer file of `agent` (None: the working tree's agent, `POINTER_NAME`)."""
    return _agent_pointer_path(root, agent)


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


def set_current(root: Path, record: AttemptRecord, agent: str | None = None) -> None:
    """Make `record` the current attempt of `agent` (default: the caller, $TOOLS_AGENT)."""
    who = agent_name() if agent is None else agent
    write_pointer(root, who, record.item_id, record.number, record.hub)


def clear_current(root: Path, record: AttemptRecord) -> None:
    """Remove every agent's pointer that still names `record` (it is closed now)."""
    clear_pointers(root, record.hub)


def attempt_id(record: AttemptRecord) -> str:
    """The id `start` prints and `--attempt` takes: `<ITEM>#<n>`, e.g. CORE-001#2."""
    return f"{record.item_id}#{record.number}"


def resolve_attempt(root: Path, selector: str, *, origin: str = "--attempt") -> AttemptRecord:
    """The attempt named by `<ITEM>#<n>` or by its hub path (relative to the root or absolute)."""
    text = selector.strip()
    match = _ATTEMPT_ID.match(text)
    if match:
        return find_record(root, match.group(1), int(match.group(2)))
    hub_path = Path(text) if Path(text).is_absolute() else root / text
    if hub_path.name == RECORD_NAME:
        hub_path = hub_path.parent
    if not text or not inside(hub_path, active_dir(root)):
        raise CommandError(
            f"{origin}={selector!r} is not a hub under plans/active (expected <ITEM>#<n>, e.g. "
            "CORE-001#2, or a hub path)"
        )
    return load_record(hub_path / RECORD_NAME)


@contextlib.contextmanager
def attempt_env(attempt: str | None) -> Iterator[None]:
    """`--attempt` for verbs whose library call has no selector: $TOOLS_ATTEMPT for the duration.

    Like `tools --ledger` (tools.common.root_options): `tools attempt run --attempt X ...` is
    exactly `TOOLS_ATTEMPT=X tools attempt run ...`; the previous value is restored after.
    """
    if not attempt:
        yield
        return
    previous = os.environ.get(ATTEMPT_ENV)
    os.environ[ATTEMPT_ENV] = attempt
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ATTEMPT_ENV, None)
        else:
            os.environ[ATTEMPT_ENV] = previous


def current_record(root: Path, attempt: str | None = None) -> AttemptRecord:
    """The attempt a verb acts on: `--attempt`, else $TOOLS_ATTEMPT, else the caller's pointer.

    The caller is the agent named by $TOOLS_AGENT, or the working tree's agent without it
    (tools.attempt.pointers), so two agents in one repository each keep their own attempt.
    """
    if attempt:
        return resolve_attempt(root, attempt)
    override = os.environ.get(ATTEMPT_ENV)
    if override:
        return resolve_attempt(root, override, origin=f"${ATTEMPT_ENV}")
    agent = agent_name()
    pointer = read_pointer(root, agent)
    if pointer is None:
        who = "" if agent is None else f" for agent {agent!r}"
        raise CommandError(
            f"no current attempt{who}: run `tools attempt start ITEM_ID --focus TEXT` or "
            "`tools attempt resume ITEM#N`"
        )
    return load_record(root / pointer.hub / RECORD_NAME)


def find_record(root: Path, item_id: str, number: int) -> AttemptRecord:
    for record in list_attempts(root, item_id):
        if record.number == number:
            return record
    raise CommandError(
        f"attempt #{number} of {item_id} not found under {reports_dir(root, item_id)}"
    )


def open_record(root: Path, attempt: str | None = None) -> AttemptRecord:
    """The current (or selected) attempt, which must still be open: verbs that add evidence."""
    record = current_record(root, attempt)
    if record.status != "open":
        raise CommandError(
            f"attempt #{record.number} of {record.item_id} is already {record.status}"
        )
    return record
