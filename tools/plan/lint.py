"""`tools plan lint`: every problem a reader or `tools plan next` would trip on, with line numbers.

The codes are listed in `specs/fix_plan_format.md` ("Lint codes"); a test compares the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tools.common.fsutil import ID_PATTERN
from tools.common.vocabulary import LEDGER_STATUSES
from tools.plan.fields import is_unverified, normalise_status, parse_priority
from tools.plan.items import Item, Problem

if TYPE_CHECKING:
    from tools.plan.ledger import Ledger

DEFAULT_MAX_BYTES = 200_000


def lint_ledger(
    ledger: Ledger, root: Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Problem]:
    """Every problem a reader or `tools plan next` would trip on, with line numbers."""
    problems = list(ledger.problems)
    seen: dict[str, int] = {}
    for item in ledger.items:
        line = item.start + 1
        if item.item_id in seen:
            problems.append(
                Problem(
                    line,
                    "duplicate-id",
                    f"[{item.item_id}] already defined at line {seen[item.item_id]}",
                )
            )
        else:
            seen[item.item_id] = line
        problems.extend(_item_problems(item, root))
    problems.extend(_dependency_problems(ledger, seen))
    size = len(ledger.text().encode("utf-8"))
    if size > max_bytes:
        problems.append(
            Problem(
                0,
                "too-large",
                f"ledger is {size} bytes (limit {max_bytes}): run `tools plan archive` to move "
                "old attempt entries to docs/archive/",
                "warning",
            )
        )
    return sorted(problems, key=lambda p: p.line)


def _item_problems(item: Item, root: Path | None) -> list[Problem]:
    """Status, priority, attempt order and (with `root`) the paths one item names."""
    problems: list[Problem] = []
    line = item.start + 1
    status = item.get("Status")
    if status is None:
        problems.append(Problem(line, "no-status", f"[{item.item_id}] has no Status field"))
    elif normalise_status(status.value) is None:
        problems.append(
            Problem(
                status.index + 1,
                "unknown-status",
                f"[{item.item_id}] status {status.value!r}: expected one of "
                + ", ".join(LEDGER_STATUSES),
            )
        )
    elif is_unverified(status.value):
        problems.append(
            Problem(
                status.index + 1,
                "unverified-claim",
                f"[{item.item_id}] Status was forced without a verified complete attempt: "
                f"{status.value}",
                "warning",
            )
        )
    priority = item.get("Priority")
    if priority is not None and parse_priority(priority.value) is None:
        problems.append(
            Problem(
                priority.index + 1,
                "bad-priority",
                f"[{item.item_id}] priority {priority.value!r}: expected an integer or "
                "High/Medium/Low",
            )
        )
    previous = 0
    for attempt in item.attempts:
        if attempt.number <= previous:
            problems.append(
                Problem(
                    attempt.index + 1,
                    "attempt-order",
                    f"[{item.item_id}] Attempt #{attempt.number} follows #{previous}",
                )
            )
        previous = max(previous, attempt.number)
        if root is not None and attempt.artifacts and not _exists(root, attempt.artifacts):
            problems.append(
                Problem(
                    attempt.index + 1,
                    "missing-artifacts",
                    f"[{item.item_id}] Artifacts path {attempt.artifacts} does not exist",
                )
            )
    if root is not None:
        problems.extend(_phase_claims(item, root))
    plan = item.working_plan
    if root is not None and plan and not _exists(root, plan):
        problems.append(
            Problem(
                item.get("Working Plan").index + 1,
                "missing-plan",
                f"[{item.item_id}] Working Plan {plan} does not exist",
            )
        )
    return problems


def _phase_claims(item: Item, root: Path) -> list[Problem]:
    """Phase rows whose Evidence was forced (`phase set --evidence N --force`)."""
    from tools.common.layout import initiative_dir
    from tools.common.output import CommandError
    from tools.plan.initiatives import read_phase_table

    if not ID_PATTERN.match(item.item_id):
        return []
    plan = initiative_dir(root, item.item_id) / "plan.md"
    if not plan.is_file():
        return []
    try:
        phases = read_phase_table(plan).phases
    except CommandError:  # a plan without a phase table claims nothing
        return []
    return [
        Problem(
            item.start + 1,
            "unverified-claim",
            f"[{item.item_id}] phase {row.phase} cites unverified evidence: {row.evidence}",
            "warning",
        )
        for row in phases
        if is_unverified(row.evidence)
    ]


def _dependency_problems(ledger: Ledger, first_line: dict[str, int]) -> list[Problem]:
    problems = []
    graph: dict[str, list[str]] = {}
    for item in ledger.items:
        graph.setdefault(item.item_id, [])
        for dep in item.depends:
            if dep not in first_line:
                field_line = item.get("Depends on") or item.get("Depends")
                problems.append(
                    Problem(
                        field_line.index + 1,
                        "missing-dependency",
                        f"[{item.item_id}] depends on [{dep}], which is not in the ledger",
                    )
                )
            else:
                graph[item.item_id].append(dep)
    for cycle in _cycles(graph):
        problems.append(
            Problem(
                first_line[cycle[0]],
                "dependency-cycle",
                "dependency cycle: " + " -> ".join(cycle + [cycle[0]]),
            )
        )
    return problems


def _exists(root: Path, relative: str) -> bool:
    path = (root / relative).resolve()
    return path.exists()


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One representative per dependency cycle (iterative DFS, colours white/grey/black)."""
    colour = dict.fromkeys(graph, 0)
    cycles: list[list[str]] = []
    for start in graph:
        if colour[start]:
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[child] == 1:
                cycles.append(path[path.index(child) :])
            elif colour[child] == 0:
                colour[child] = 1
                stack.append((child, iter(graph[child])))
                path.append(child)
    return cycles
