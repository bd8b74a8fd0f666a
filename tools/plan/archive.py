"""`tools plan archive`: move old attempt entries out of the ledger, leaving a pointer line."""

from __future__ import annotations

from tools.common.output import CommandError
from tools.plan.ledger import Ledger
from tools.plan.lines import content as _content


def archive_attempts(ledger: Ledger, *, keep: int, archive_rel: str) -> tuple[list[str], int]:
    """Move all but the last `keep` bullet-form attempt entries of each item out of the ledger.

    Returns (archive text blocks, entries moved). Each item keeps a pointer line where its
    oldest entry was. Sub-heading attempt entries are left in place (they own their sections).
    """
    if keep < 0:
        raise CommandError(f"--keep must be >= 0, found {keep}")
    blocks: list[str] = []
    moved = 0
    # Work bottom-up so earlier line indexes stay valid while later ranges are cut.
    for item in reversed(ledger.items):
        bullets = [a for a in item.attempts if _content(ledger.lines[a.index])[:1] in (" ", "\t")]
        old = bullets[: max(len(bullets) - keep, 0)]
        if not old:
            continue
        ranges = []
        for attempt in old:
            indent = len(_content(ledger.lines[attempt.index])) - len(
                _content(ledger.lines[attempt.index]).lstrip()
            )
            stop = attempt.index + 1
            while stop < item.end:
                content = _content(ledger.lines[stop])
                if not content.strip() or len(content) - len(content.lstrip()) <= indent:
                    break
                stop += 1
            ranges.append((attempt.index, stop))
        moved_lines = [ledger.lines[i] for start, stop in ranges for i in range(start, stop)]
        first_indent = _content(ledger.lines[ranges[0][0]])
        first_indent = first_indent[: len(first_indent) - len(first_indent.lstrip())]
        pointer = (
            f"{first_indent}* Attempts #{old[0].number}–#{old[-1].number} archived to "
            f"{archive_rel}{ledger.newline}"
        )
        for start, stop in reversed(ranges):
            del ledger.lines[start:stop]
        ledger.lines.insert(ranges[0][0], pointer)
        body = "".join(_content(line) + "\n" for line in moved_lines)
        blocks.insert(0, f"## [{item.item_id}] {item.title}\n\n{body}")
        moved += len(old)
    ledger._reparse()
    return blocks, moved
