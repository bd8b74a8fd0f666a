"""Names an agent gives: hub slugs, run names, and which item IDs an attempt may be opened for."""

from __future__ import annotations

import re
from pathlib import Path

from tools.common.layout import active_dir, ledger_path
from tools.common.output import CommandError

_NAME_OK = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def sanitize_slug(text: str) -> str:
    """A slug of [a-z0-9-]; path syntax (`/`, `..`, `\\`) is refused, not silently rewritten."""
    if "/" in text or "\\" in text or ".." in text:
        raise CommandError(f"invalid slug {text!r}: must not contain '/', '\\\\' or '..'")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-")
    if not slug:
        raise CommandError(f"invalid slug {text!r}: expected letters or digits")
    return slug


def check_run_name(name: str) -> str:
    """A log name: [a-z0-9._-], starting with a letter or digit (never a path)."""
    if "/" in name or "\\" in name or ".." in name or not _NAME_OK.match(name):
        raise CommandError(
            f"invalid run name {name!r}: expected [a-z0-9._-], starting with a letter or digit"
        )
    return name


def focus_slug(focus: str, words: int = 5, limit: int = 40) -> str | None:
    """The default hub name: the focus's first words as a slug (a hub named for its work, not
    "attempt-7"); None when the focus has no letters or digits."""
    text = " ".join(re.findall(r"[A-Za-z0-9]+", focus)[:words])
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return slug or None


def known_item_ids(root: Path) -> set[str]:
    """IDs in `fix_plan.md` plus initiatives with a plan.md."""
    from tools.plan.entries import item_ids

    ids: set[str] = set()
    ledger = ledger_path(root)
    if ledger.is_file():
        ids |= item_ids(ledger)
    active = active_dir(root)
    if active.is_dir():
        ids |= {path.parent.name for path in active.glob("*/plan.md")}
    return ids
