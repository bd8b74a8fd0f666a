"""`tools specs check`: citations (`path:line`, `path:start-end`) and finding IDs must be true.

Scanned: `fix_plan.md`, `plans/**/*.md`, `docs/**/*.md`, except attempt hubs and `docs/archive/`
(snapshots of the past); fenced code blocks are skipped (they hold examples, not claims). A
citation must name an existing file inside the repository and a line range within it; when the next non-blank line is a quote (`> text`), the cited lines must contain
the quoted text after folding whitespace. Finding-style IDs (`DATA-001`) must be rows of
`docs/findings.md`; ledger item and initiative IDs are not findings and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.common.fsutil import inside
from tools.common.layout import FINDINGS_PATH, LEDGER_NAME
from tools.specs.findings import read_findings

# A path with an extension, then :line or :start-end. Anchored on a non-path character before it
# so `http://x` or `12:30` do not match.
CITATION = re.compile(
    r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.(?:md|py|toml|json|txt|yaml|yml|cfg|ini|j2|sh))"
    r":(\d+)(?:-(\d+))?(?![\d\w])"
)
FINDING_REF = re.compile(r"(?<![\w-])([A-Z][A-Z0-9]*-[0-9]{3})(?![\w-])")
# Standard names that look like finding IDs.
NOT_FINDINGS = frozenset({"SHA-224", "SHA-256", "SHA-384", "SHA-512", "UTF-008", "UTF-016"})


@dataclass
class SpecProblem:
    path: str
    line: int
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "code": self.code, "message": self.message}


def scanned_files(root: Path) -> list[Path]:
    """fix_plan.md, plans/**/*.md, docs/**/*.md, less the snapshots of the past.

    Attempt hubs (`plans/active/<ID>/reports/`) and `docs/archive/` record what was true when
    they were written; their citations are not re-checked against today's files.
    """
    files = [root / LEDGER_NAME] if (root / LEDGER_NAME).exists() else []
    for folder in ("plans", "docs"):
        for path in sorted((root / folder).glob("**/*.md")):
            parts = path.relative_to(root).parts
            if "reports" in parts[:-1] and parts[:2] == ("plans", "active"):
                continue
            if parts[:2] == ("docs", "archive"):
                continue
            files.append(path)
    return files


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(0-based index, line) of lines outside fenced code blocks."""
    in_fence = False
    for index, line in enumerate(text.split("\n")):
        stripped = line.lstrip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield index, line


def _fold(text: str) -> str:
    return " ".join(text.split())


def _quote_line(lines: list[str], index: int) -> int:
    """Index of the next non-blank line after `index` (at most one blank line between)."""
    for probe in range(index + 1, min(index + 3, len(lines))):
        if lines[probe].strip():
            return probe
    return index


def _quote_after(lines: list[str], index: int) -> str | None:
    """The `> quoted` text on the next non-blank line after `index`, if there is one."""
    probe = _quote_line(lines, index)
    stripped = lines[probe].strip() if probe != index else ""
    return stripped[1:].strip() if stripped.startswith(">") else None


def check_citations(root: Path, files: list[Path] | None = None) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    cache: dict[Path, list[str]] = {}
    for source in files if files is not None else scanned_files(root):
        rel = source.relative_to(root).as_posix()
        text = source.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        for index, line in _prose_lines(text):
            resolved: list[tuple[str, str]] = []  # (citation, folded cited text)
            for match in CITATION.finditer(line):
                cited, start, end = match.group(1), int(match.group(2)), match.group(3)
                stop = int(end) if end else start
                where = (rel, index + 1)
                target = root / cited
                if not inside(target, root) or not target.is_file():
                    problems.append(SpecProblem(*where, "missing-file", f"{cited} does not exist"))
                    continue
                if target not in cache:
                    cache[target] = target.read_text(encoding="utf-8", errors="replace").split("\n")
                cited_lines = cache[target]
                count = len(cited_lines) - (1 if cited_lines and cited_lines[-1] == "" else 0)
                if start < 1 or stop < start or stop > count:
                    problems.append(
                        SpecProblem(
                            *where,
                            "bad-range",
                            f"{match.group(0)}: lines {start}-{stop} outside {cited} "
                            f"({count} lines)",
                        )
                    )
                    continue
                resolved.append((match.group(0), _fold(" ".join(cited_lines[start - 1 : stop]))))
            quote = _quote_after(lines, index) if resolved else None
            # A quote under a line with several citations must be in one of them.
            if quote is not None and not any(_fold(quote) in body for _, body in resolved):
                citation, body = resolved[-1]
                problems.append(
                    SpecProblem(
                        rel,
                        _quote_line(lines, index) + 1,
                        "quote-mismatch",
                        f"{citation} does not contain the quoted text {_fold(quote)!r} "
                        f"(it reads {body[:120]!r})",
                    )
                )
    return problems


def check_finding_refs(
    root: Path, *, skip_ids: set[str], files: list[Path] | None = None
) -> list[SpecProblem]:
    """Every finding-style ID outside `skip_ids` (ledger and initiative IDs) must be a finding."""
    known = {finding.finding_id for finding in read_findings(root)}
    findings_file = (root / FINDINGS_PATH).resolve()
    problems = []
    for source in files if files is not None else scanned_files(root):
        if source.resolve() == findings_file:
            continue
        rel = source.relative_to(root).as_posix()
        text = source.read_text(encoding="utf-8", errors="replace")
        for index, line in _prose_lines(text):
            for match in FINDING_REF.finditer(line):
                ref = match.group(1)
                if ref in known or ref in skip_ids or ref in NOT_FINDINGS:
                    continue
                problems.append(
                    SpecProblem(
                        rel,
                        index + 1,
                        "unknown-finding",
                        f"finding {ref} is not in {FINDINGS_PATH.as_posix()} "
                        "(add it with `tools findings add`)",
                    )
                )
    return problems


def check_specs(root: Path, *, skip_ids: set[str]) -> list[SpecProblem]:
    files = scanned_files(root)
    return check_citations(root, files) + check_finding_refs(root, skip_ids=skip_ids, files=files)
