"""`tools plan claim` and `tools plan release`: take a ledger item with an owner and a lease.

Registered on the `plan` group by `tools.plan.cli`; the library is `tools.plan.claims`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import JsonFlag, emit, reporting

OwnerOpt = Annotated[
    str | None,
    typer.Option(
        "--owner", help="Who holds it; default $TOOLS_AGENT, else 'worktree' (this working tree)."
    ),
]


def _root() -> Path:
    from tools.common.fsutil import find_repo_root

    return find_repo_root()


def claim_cmd(
    item_id: Annotated[str, typer.Argument(help="Ledger item ID to take.")],
    lease: Annotated[
        str, typer.Option("--lease", help="How long the claim holds: 30m, 2h, 1d.")
    ] = "2h",
    owner: OwnerOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Claim an item so other agents' `plan next` skips it (plans/claims.json).

    Refused (exit 1) while another owner's lease runs; renew yours or take an expired one.
    """
    with reporting(as_json):
        from tools.common.fsutil import repo_lock
        from tools.plan.claims import claim, default_owner
        from tools.plan.ledger import Ledger

        root = _root()
        who = owner or default_owner()
        with repo_lock(root):
            from tools.common.layout import ledger_path

            Ledger.load(ledger_path(root)).find_unique(item_id)
            held = claim(root, item_id, who, lease)
        text = f"[{item_id}] claimed by {held.owner} until {held.expires_at}"
        if held.previous_owner:
            text += f" (expired lease of {held.previous_owner} taken over)"
        emit(ok=True, data={"id": item_id, **held.model_dump()}, as_json=as_json, text=text)


def release_cmd(
    item_id: Annotated[str, typer.Argument(help="Ledger item ID to release.")],
    owner: OwnerOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Release another owner's claim.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Drop your claim on an item."""
    with reporting(as_json):
        from tools.common.fsutil import repo_lock
        from tools.plan.claims import default_owner, release

        root = _root()
        with repo_lock(root):
            held = release(root, item_id, owner or default_owner(), force=force)
        emit(
            ok=True,
            data={"id": item_id, **held.model_dump()},
            as_json=as_json,
            text=f"[{item_id}] released (was {held.owner})",
        )
