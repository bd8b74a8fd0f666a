"""Field values of ledger items as hand-kept ledgers spell them: status, priority, dependencies.

The spellings are tables in `specs/fix_plan_format.md`; a test compares them with this module.
"""

from __future__ import annotations

import re

# Hand-kept ledgers use many spellings; each maps to one canonical status. Longest first so
# "in progress" wins over a hypothetical "in".
STATUS_ALIASES = sorted(
    {
        "pending": "pending",
        "todo": "pending",
        "open": "pending",
        "planned": "pending",
        "not started": "pending",
        "not_started": "pending",
        "in_progress": "in_progress",
        "in progress": "in_progress",
        "in-progress": "in_progress",
        "active": "in_progress",
        "wip": "in_progress",
        "blocked": "blocked",
        "done": "done",
        "complete": "done",
        "completed": "done",
        "closed": "done",
        "fixed": "done",
        "archived": "archived",
    }.items(),
    key=lambda kv: -len(kv[0]),
)
PRIORITY_WORDS = {"critical": 0, "high": 1, "medium": 2, "med": 2, "low": 3}
_NONE_WORDS = {"", "—", "–", "-", "none", "n/a", "na", "nothing"}


def normalise_status(value: str) -> str | None:
    """Canonical status for a field value with optional trailing text; None when unknown."""
    text = value.strip().strip("*`").strip().lower()
    for alias, canonical in STATUS_ALIASES:
        if text.startswith(alias):
            rest = text[len(alias) :]
            if not rest or not (rest[0].isalnum() or rest[0] == "_"):
                return canonical
    return None


def parse_priority(value: str) -> int | None:
    """Integer priority (lower first) from `3`, `P1`, `High`, `Medium — ...`; None if unknown."""
    text = value.strip().strip("*`").strip()
    word = re.split(r"[\s(—–,;:]", text, maxsplit=1)[0].lower() if text else ""
    if word.startswith("p") and word[1:].isdigit():
        word = word[1:]
    if word.lstrip("-").isdigit():
        return int(word)
    return PRIORITY_WORDS.get(word)


def parse_depends(value: str) -> list[str]:
    """Dependency IDs from `A-1, B-2`, `[A-1]; B-2 (phase C)`, `—` or `none`."""
    text = value.strip()
    if text.lower().strip("*`. ") in _NONE_WORDS:
        return []
    ids: list[str] = []
    for part in re.split(r"[,;]", text):
        token = part.strip().split(" ", 1)[0].strip("[]`*().")
        if token and token.lower() not in _NONE_WORDS:
            ids.append(token)
    return ids


# `plan set --status done --force` and `phase set --evidence N --force` write this marker so an
# unverified claim stays visible; `plan lint` warns about it (`unverified-claim`).
UNVERIFIED = "[UNVERIFIED"
_UNVERIFIED_MARK = re.compile(r"[ \t]*\[UNVERIFIED[^\]]*\]")


def unverified_mark(why: str, moment: str) -> str:
    """The marker a forced claim carries: `[UNVERIFIED: <why>; forced <UTC>]`."""
    return f"{UNVERIFIED}: {' '.join(why.split())}; forced {moment}]"


def is_unverified(value: str) -> bool:
    return UNVERIFIED in value


def restatus(value: str, status: str, mark: str | None = None) -> str:
    """The Status value with its status spelling replaced by `status`, trailing text kept.

    `in_progress — Phase E6 waiting` set to done is `done — Phase E6 waiting`; an unknown
    spelling is replaced whole. An old UNVERIFIED marker is dropped; `mark` is put after the
    status word.
    """
    text = _UNVERIFIED_MARK.sub("", value)
    lead = len(text) - len(text.lstrip(" \t*`"))
    body = text[lead:]
    rest = ""
    if normalise_status(text) is not None:
        lowered = body.lower()
        for alias, _canonical in STATUS_ALIASES:
            if lowered.startswith(alias) and not (
                lowered[len(alias) : len(alias) + 1].isalnum()
                or lowered[len(alias) : len(alias) + 1] == "_"
            ):
                rest = body[len(alias) :]
                break
    rest = rest.lstrip("*`") if text[:lead].strip() else rest
    new = status + (f" {mark}" if mark else "")
    return f"{new}{rest}".rstrip() if rest.strip() else new
