"""specs/fix_plan_format.md tables agree with tools/plan/ (the spec is normative)."""

from __future__ import annotations

import re
from pathlib import Path

import tools.plan.ledger as ledger_module
import tools.plan.lint as lint_module
from tools.plan.fields import PRIORITY_WORDS, STATUS_ALIASES, normalise_status, parse_priority
from tools.plan.ledger import Ledger

SPEC = Path(__file__).resolve().parents[3] / "specs" / "fix_plan_format.md"


def _table(heading: str) -> list[list[str]]:
    """Rows (cells) of the first table after `## heading`."""
    lines = SPEC.read_text(encoding="utf-8").split("\n")
    start = lines.index(f"## {heading}")
    rows, seen_table = [], False
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            seen_table = True
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif seen_table:
            break
    return rows[2:]  # drop header and separator


def test_status_spellings_match_code():
    table = {spelling: status for spelling, status in _table("Status spellings")}
    assert table == dict(STATUS_ALIASES)
    for spelling, status in table.items():
        assert normalise_status(spelling.upper() + " — trailing text") == status


def test_priority_words_match_code():
    table = {word: int(value) for word, value in _table("Priority words")}
    assert table == PRIORITY_WORDS
    assert all(parse_priority(word.title()) == value for word, value in table.items())


def test_lint_codes_match_code():
    documented = {row[0] for row in _table("Lint codes (`tools plan lint`)")}
    # The parser reports what it cannot read; lint reports the rest.
    source = "".join(
        Path(module.__file__).read_text(encoding="utf-8") for module in (ledger_module, lint_module)
    )
    emitted = set(re.findall(r'Problem\(\s*[^,]+,\s*"([a-z-]+)"', source))
    assert emitted == documented


def test_shape_example_parses_as_documented():
    text = SPEC.read_text(encoding="utf-8")
    example = text.split("````\n")[1]
    concrete = (
        example.replace("<ID>", "X-1")
        .replace("- Depends on: X-1, X-1 | none", "- Depends on: none")
        .replace("<int, lower first>", "2")
        .replace("pending | in_progress | blocked | done | archived", "pending")
        .replace("<n>", "1")
    )
    item = Ledger(concrete).find("X-1")
    assert (item.status, item.priority, item.depends) == ("pending", 2, [])
    assert item.working_plan == "plans/active/X-1/plan.md"
    assert [a.number for a in item.attempts] == [1]
    assert Ledger(concrete).text() == concrete
