"""Claims on ledger items (`tools plan claim|release`), so two agents do not take the same item.

`plans/claims.json` maps an item ID to its owner and lease. A claim by another owner whose lease
has not expired blocks `plan claim` and hides the item from `plan next`; an expired lease can be
reclaimed by anyone. Owners are agent names ($TOOLS_AGENT), or `--owner`. Callers hold
`repo_lock(root)` around a read-modify-write.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import iso_utc, utc_now, validate_item_id
from tools.common.layout import plans_dir
from tools.common.output import EXIT_FAILED, CommandError

if TYPE_CHECKING:
    from tools.plan.items import Item
    from tools.plan.ledger import Ledger

CLAIMS_NAME = "claims.json"
DEFAULT_LEASE = "2h"
_LEASE = re.compile(r"^([0-9]+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = Field(description="Agent name that holds the item")
    claimed_at: str = Field(description="Tool clock when claimed or renewed, ISO-8601 UTC")
    expires_at: str = Field(description="When the lease ends, ISO-8601 UTC")
    previous_owner: str | None = Field(default=None, description="Whose expired lease it took")


class ClaimFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claims: dict[str, Claim] = Field(default_factory=dict)


def claims_path(root: Path) -> Path:
    return plans_dir(root) / CLAIMS_NAME


def parse_lease(text: str) -> timedelta:
    """`90m`, `2h`, `1d`, `30s` as a duration (at least one second)."""
    match = _LEASE.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise CommandError(f"--lease {text!r}: expected a duration such as 30m, 2h or 1d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])


def _parse_time(path: Path, item_id: str, key: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"{path}: claims.{item_id}.{key}: expected an ISO-8601 UTC time, found {value!r}"
        ) from None


def load_claims(root: Path) -> ClaimFile:
    path = claims_path(root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ClaimFile()
    try:
        claims = ClaimFile.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise CommandError(f"{path}: key {where}: {first['msg']}") from None
    for item_id, claim in claims.claims.items():
        _parse_time(path, item_id, "expires_at", claim.expires_at)
    return claims


def save_claims(root: Path, claims: ClaimFile) -> None:
    atomic_write_text(claims_path(root), claims.model_dump_json(indent=2) + "\n")


def is_live(root: Path, item_id: str, claim: Claim, now: datetime | None = None) -> bool:
    expires = _parse_time(claims_path(root), item_id, "expires_at", claim.expires_at)
    return expires > (now or utc_now())


def held_by_others(root: Path, owner: str | None, now: datetime | None = None) -> dict[str, Claim]:
    """Items with a live claim by someone other than `owner`."""
    return {
        item_id: claim
        for item_id, claim in load_claims(root).claims.items()
        if claim.owner != owner and is_live(root, item_id, claim, now)
    }


def claim(root: Path, item_id: str, owner: str, lease: str = DEFAULT_LEASE) -> Claim:
    """Take (or renew) the item for `owner`; refused (exit 1) while another owner's lease runs."""
    validate_item_id(item_id)
    claims = load_claims(root)
    now = utc_now()
    held = claims.claims.get(item_id)
    previous = None
    if held is not None and held.owner != owner:
        if is_live(root, item_id, held, now):
            raise CommandError(
                f"[{item_id}] is claimed by {held.owner!r} until {held.expires_at}; pick another "
                "item (`tools plan next`) or wait for the lease to expire",
                exit_code=EXIT_FAILED,
            )
        previous = held.owner
    new = Claim(
        owner=owner,
        claimed_at=iso_utc(now),
        expires_at=iso_utc(now + parse_lease(lease)),
        previous_owner=previous,
    )
    claims.claims[item_id] = new
    save_claims(root, claims)
    return new


def release(root: Path, item_id: str, owner: str, *, force: bool = False) -> Claim:
    """Drop the claim; only its owner may (or anyone with `force`)."""
    validate_item_id(item_id)
    claims = load_claims(root)
    held = claims.claims.get(item_id)
    if held is None:
        raise CommandError(f"[{item_id}] is not claimed")
    if held.owner != owner and not force:
        raise CommandError(
            f"[{item_id}] is claimed by {held.owner!r}, not {owner!r}; pass --force to release",
            exit_code=EXIT_FAILED,
        )
    del claims.claims[item_id]
    save_claims(root, claims)
    return held


def default_owner() -> str:
    """The caller as a claim owner: $TOOLS_AGENT, else `worktree` (this working tree's agent)."""
    from tools.attempt.pointers import agent_name

    return agent_name() or "worktree"


def taken_by_others(root: Path, owner: str) -> dict[str, str]:
    """Item ID -> why another agent has it: a live claim, or an open attempt on its pointer."""
    from tools.attempt.pointers import all_pointers

    taken = {
        item_id: f"claimed by {c.owner!r} until {c.expires_at}"
        for item_id, c in held_by_others(root, owner).items()
    }
    for agent, pointer in all_pointers(root).items():
        if (agent or "worktree") != owner and _still_open(root, pointer.hub):
            taken.setdefault(
                pointer.item_id, f"attempt {pointer.attempt_id} open for {agent or 'worktree'!r}"
            )
    return taken


def _still_open(root: Path, hub: str) -> bool:
    from tools.attempt.store import RECORD_NAME, load_record

    try:
        return load_record(root / hub / RECORD_NAME).status == "open"
    except CommandError:  # a stale pointer to a damaged or removed hub holds nothing
        return False


def next_unclaimed(ledger: Ledger, taken: dict[str, str]) -> Item | None:
    """`Ledger.next_item`'s rule (specs/fix_plan_format.md, "Next item") over the items that
    no other agent has taken."""
    status_of = {item.item_id: item.status for item in ledger.items}
    best: tuple[int, int, Item] | None = None
    for order, item in enumerate(ledger.items):
        if item.status not in ("pending", "in_progress") or item.item_id in taken:
            continue
        if any(status_of.get(dep) not in ("done", "archived") for dep in item.depends):
            continue
        key = (item.priority if item.priority is not None else 10**9, order, item)
        if best is None or key[:2] < best[:2]:
            best = key
    return best[2] if best else None
