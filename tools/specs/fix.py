"""`tools specs check --fix`: rewrite fixable citations in place (bare names resolved to their
path, moved symbols and quotes re-pointed), each file atomically, under the repository lock."""

from __future__ import annotations

from pathlib import Path

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import inside
from tools.common.output import CommandError
from tools.specs.check import SpecProblem


def apply_fixes(root: Path, problems: list[SpecProblem]) -> list[SpecProblem]:
    """Apply every problem's fix (those with `fix` and `span`); returns the ones applied.

    The caller holds `repo_lock`. Fixes in one line are applied right to left so earlier offsets
    stay valid; a span that no longer holds a citation (the file changed since the check) is
    refused rather than guessed.
    """
    by_file: dict[str, list[SpecProblem]] = {}
    for problem in problems:
        if problem.fix is not None and problem.span is not None:
            by_file.setdefault(problem.path, []).append(problem)
    applied: list[SpecProblem] = []
    for rel, group in sorted(by_file.items()):
        path = root / rel
        if not inside(path, root):
            raise CommandError(f"{rel}: outside the repository; not rewritten")
        # Bytes, split on "\n" only: "\r\n" endings and every other byte stay as they were.
        lines = path.read_bytes().decode("utf-8").split("\n")
        seen: set[tuple[int, int, int]] = set()
        for problem in sorted(group, key=lambda p: (p.line, p.span), reverse=True):
            start, end = problem.span
            key = (problem.line, start, end)
            if key in seen:
                continue
            seen.add(key)
            line = lines[problem.line - 1]
            if ":" not in line[start:end]:
                raise CommandError(
                    f"{rel}:{problem.line}: the line changed since the check; run it again"
                )
            lines[problem.line - 1] = line[:start] + problem.fix + line[end:]
            applied.append(problem)
        atomic_write_text(path, "\n".join(lines))
    return applied
