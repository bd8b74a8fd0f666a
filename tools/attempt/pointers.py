"""Current-attempt pointers: one per agent, so two agents in one repository never share one.

An agent names itself with $TOOLS_AGENT (letters, digits, `.`, `_`, `-`); its pointer is
`plans/active/.agents/<agent>.json`. Without $TOOLS_AGENT the caller is the working tree's agent
and its pointer is `plans/active/.current_attempt.json` (each git worktree has its own `plans/`).
A pointer only says which attempt the agent's verbs act on; the attempt record stays the truth.
Callers hold `repo_lock(root)` around a read-check-write of a pointer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import inside, iso_utc
from tools.common.layout import active_dir, plans_dir
from tools.common.output import CommandError

AGENT_ENV = "TOOLS_AGENT"
POINTER_NAME = ".current_attempt.json"
AGENTS_DIR = ".agents"
_AGENT_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Pointer(BaseModel):
    """What a pointer file holds: the attempt an agent's verbs act on."""

    model_config = ConfigDict(extra="forbid")

    item_id: str
    number: int
    hub: str
    agent: str | None = None
    set_at: str | None = None

    @property
    def attempt_id(self) -> str:
        return f"{self.item_id}#{self.number}"


def agent_name() -> str | None:
    """The caller's agent name from $TOOLS_AGENT; None for the working tree's agent."""
    name = os.environ.get(AGENT_ENV, "").strip()
    if not name:
        return None
    if not _AGENT_OK.match(name):
        raise CommandError(
            f"${AGENT_ENV}={name!r}: expected letters, digits, '.', '_' or '-' (at most 64)"
        )
    return name


def agent_label(agent: str | None) -> str:
    """How messages name an agent."""
    return f"agent {agent!r}" if agent is not None else "this working tree's agent"


def pointer_path(root: Path, agent: str | None = None) -> Path:
    if agent is None:
        return active_dir(root) / POINTER_NAME
    return active_dir(root) / AGENTS_DIR / f"{agent}.json"


def read_pointer(root: Path, agent: str | None) -> Pointer | None:
    """The agent's pointer, or None when it has none; a damaged file is an input error."""
    return _read(root, pointer_path(root, agent))


def _read(root: Path, path: Path) -> Pointer | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        pointer = Pointer.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise CommandError(f"{path}: invalid pointer at {where}: {first['msg']}") from None
    if not inside(root / pointer.hub, active_dir(root)):
        raise CommandError(f"{path}: key 'hub' points outside plans/active: {pointer.hub!r}")
    return pointer


def write_pointer(root: Path, agent: str | None, item_id: str, number: int, hub: str) -> None:
    path = pointer_path(root, agent)
    if not inside(path, plans_dir(root)):
        raise CommandError(f"refusing to write outside plans/: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    pointer = Pointer(item_id=item_id, number=number, hub=hub, agent=agent, set_at=iso_utc())
    atomic_write_text(path, pointer.model_dump_json() + "\n")


def all_pointers(root: Path) -> dict[str | None, Pointer]:
    """Every agent's pointer, keyed by agent name (None: the working tree's agent)."""
    found: dict[str | None, Pointer] = {}
    default = _read(root, pointer_path(root))
    if default is not None:
        found[None] = default
    agents = active_dir(root) / AGENTS_DIR
    if agents.is_dir():
        for path in sorted(agents.glob("*.json")):
            pointer = _read(root, path)
            if pointer is not None:
                found[path.stem] = pointer
    return found


def holders(root: Path, hub: str) -> list[str | None]:
    """The agents whose pointer names `hub`."""
    return [agent for agent, pointer in all_pointers(root).items() if pointer.hub == hub]


def clear_pointers(root: Path, hub: str, agents: list[str | None] | None = None) -> None:
    """Remove the pointers (of `agents`, default all) that still name `hub`."""
    for agent in holders(root, hub) if agents is None else agents:
        pointer = read_pointer(root, agent)
        if pointer is not None and pointer.hub == hub:
            pointer_path(root, agent).unlink(missing_ok=True)
