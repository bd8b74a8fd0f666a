"""Claims that need evidence: an item's Status `done` and a phase row's `Evidence: Attempt #N`.

Both are refused unless the attempt behind them is complete and verifies (its record and files
are what the tool wrote: `tools.attempt.verify.verify_hub`). `--force` writes the claim anyway
with a visible `[UNVERIFIED: <why>; forced <UTC>]` marker that `tools plan lint` warns about.
The rule is specified in `specs/fix_plan_format.md` ("Lifecycle").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tools.common.fsutil import iso_utc, validate_item_id
from tools.common.layout import initiative_dir
from tools.common.output import EXIT_FAILED, CommandError
from tools.common.vocabulary import LEDGER_STATUSES
from tools.plan.fields import restatus, unverified_mark

if TYPE_CHECKING:
    from tools.attempt.records import AttemptRecord
    from tools.plan.ledger import Ledger

_EVIDENCE = re.compile(r"^(?:Attempt[ \t]*)?#?[ \t]*([0-9]+)$")


def hub_problems(root: Path, record: AttemptRecord) -> list[str]:
    """Why the attempt's hub does not verify (empty when it does). Any finding counts, a
    warning too: a legacy (unsealed) record cannot back a claim."""
    from tools.attempt.verify import verify_hub

    return [problem.line() for problem in verify_hub(root, record)]


def backing_attempt(
    root: Path, item_id: str, number: int | None = None
) -> tuple[AttemptRecord | None, str | None]:
    """(the verified complete attempt behind a claim, None) or (None, why there is none).

    With `number`: that attempt; without: the latest complete attempt of the item.
    """
    from tools.attempt.store import list_attempts

    records = list_attempts(root, item_id) if initiative_dir(root, item_id).is_dir() else []
    if number is not None:
        chosen = next((r for r in records if r.number == number), None)
        if chosen is None:
            return None, f"attempt #{number} of {item_id} not found"
    else:
        complete = [r for r in records if r.status == "complete"]
        if not complete:
            return None, f"no complete attempt of {item_id}"
        chosen = complete[-1]
    if chosen.status != "complete":
        return None, f"attempt #{chosen.number} of {item_id} is {chosen.status}, not complete"
    problems = hub_problems(root, chosen)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return None, f"attempt #{chosen.number} of {item_id} does not verify: {problems[0]}{more}"
    return chosen, None


@dataclass
class StatusClaim:
    item_id: str
    status: str
    line: int  # 0-based index of the Status line written
    value: str
    unverified: str | None  # why the claim is not backed (only with --force)

    def as_dict(self) -> dict:
        return {
            "id": self.item_id,
            "status": self.status,
            "line": self.line + 1,
            "value": self.value,
            "unverified": self.unverified,
        }


def _refuse(what: str, why: str) -> CommandError:
    return CommandError(
        f"refusing {what}: {why}; finish a complete attempt first (`tools attempt finish "
        "--status complete --closes`), or pass --force to record an unverified claim",
        exit_code=EXIT_FAILED,
    )


def set_status(
    root: Path, ledger: Ledger, item_id: str, status: str, *, force: bool = False
) -> StatusClaim:
    """Set an item's Status, keeping the line's trailing text; `done` needs a verified attempt."""
    validate_item_id(item_id)
    if status not in LEDGER_STATUSES:
        raise CommandError(
            f"invalid status {status!r}: expected one of {', '.join(LEDGER_STATUSES)}"
        )
    ledger.find_unique(item_id)  # an unknown or duplicated ID is refused before any check
    why = None
    if status == "done":
        _, why = backing_attempt(root, item_id)
        if why and not force:
            raise _refuse(f"--status done for [{item_id}]", why)
    mark = unverified_mark(why, iso_utc()) if why else None
    line = write_status(ledger, item_id, status, mark)
    value = ledger.find_unique(item_id).status_raw or status
    return StatusClaim(item_id, status, line, value, why)


def write_status(ledger: Ledger, item_id: str, status: str, mark: str | None = None) -> int:
    """Rewrite the item's Status to `status` (+ `mark`), keeping the line's trailing text (in
    either layout: the single-initiative edit keeps the decoration around the status word)."""
    item = ledger.find_unique(item_id)
    return ledger.set_field(item_id, "Status", restatus(item.status_raw or "", status, mark))


def phase_evidence(root: Path, item_id: str, evidence: str, *, force: bool = False) -> str:
    """The Evidence cell for `phase set --evidence N`: `Attempt #N`, if that attempt verifies."""
    match = _EVIDENCE.match(evidence.strip())
    if match is None:
        raise CommandError(f"--evidence {evidence!r}: expected an attempt number, e.g. 3")
    number = int(match.group(1))
    _, why = backing_attempt(root, item_id, number)
    if why is None:
        return f"Attempt #{number}"
    if not force:
        raise _refuse(f"--evidence {number} for {item_id}", why)
    return f"Attempt #{number} {unverified_mark(why, iso_utc())}"
