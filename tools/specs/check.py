"""`tools specs check`: citations (`path:line`, `path:start-end`, lists) and finding IDs must be true.

Scanned (specs/fix_plan_format.md, "Citations and findings"): the ledger, `<plans>/**/*.md`
and `<specs dir>/**/*.md` for each specs dir (default `specs/`, `docs/`), except attempt hubs and
`docs/archive/` (snapshots of the past); fenced code blocks are skipped (they hold examples). A
citation must name one file of the repository (a bare or partial name that resolves to exactly
one file is a fixable warning) and lines within it that are not blank; a symbol it carries must
be on the cited lines and a quote under it (`> text`) in them, else the check says where they
moved to (fixable). Finding-style IDs (`DATA-001`) must be findings; ledger item and initiative
IDs are not findings and are skipped. `tools.specs.fix` applies the fixes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tools.common.fsutil import inside
from tools.common.layout import resolve_layout
from tools.specs.citations import (
    Citation,
    citations_in,
    fold,
    prose_lines,
    quote_after,
    quote_line,
    render_ranges,
)
from tools.specs.file_index import FileIndex
from tools.specs.findings import NoFindingsTable, prose_finding_ids, read_findings
from tools.specs.locate import find_quote, find_symbol, mentions

FINDING_REF = re.compile(r"(?<![\w-])([A-Z][A-Z0-9]*-[0-9]{3})(?![\w-])")
# Standard names that look like finding IDs.
NOT_FINDINGS = frozenset({"SHA-224", "SHA-256", "SHA-384", "SHA-512", "UTF-008", "UTF-016"})
MAX_CANDIDATES = 5


@dataclass
class SpecProblem:
    path: str
    line: int
    code: str
    message: str
    severity: str = "error"
    fix: str | None = None  # the citation text that replaces the one at `span`
    span: tuple[int, int] | None = None  # offsets of the citation text in its line

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "line": self.line,
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "fix": self.fix,
        }


def scanned_files(root: Path) -> list[Path]:
    """The ledger, plans/**/*.md and each specs dir's **/*.md, less the snapshots of the past.

    Attempt hubs (`plans/active/<ID>/reports/`) and `docs/archive/` record what was true when
    they were written; their citations are not re-checked against today's files.
    """
    layout = resolve_layout(root)
    files = [layout.ledger] if layout.ledger.is_file() else []
    for folder in (layout.plans, *layout.specs_dirs):
        for path in sorted(folder.glob("**/*.md")):
            parts = path.relative_to(root).parts
            if "reports" in parts[:-1] and path.is_relative_to(layout.active):
                continue
            if parts[:2] == ("docs", "archive"):
                continue
            files.append(path)
    seen: set[Path] = set()
    return [p for p in files if not (p.resolve() in seen or seen.add(p.resolve()))]


def _read(path: Path) -> str:
    """The file's text with its line endings as they are (lines are split on "\n" only, as the
    ledger's are), so line numbers and offsets match what `--fix` rewrites."""
    return path.read_bytes().decode("utf-8", errors="replace")


class _Files:
    """Cited files' lines (read once) and the index that resolves bare names."""

    def __init__(self, root: Path):
        self.root = root
        self.lines: dict[Path, list[str]] = {}
        self._index: FileIndex | None = None

    def read(self, path: Path) -> list[str]:
        if path not in self.lines:
            text = _read(path).split("\n")
            self.lines[path] = text[:-1] if text and text[-1] == "" else text
        return self.lines[path]

    def candidates(self, cited: str) -> list[str]:
        if self._index is None:
            self._index = FileIndex.of(self.root)
        return self._index.candidates(cited)


@dataclass
class _Resolved:
    """A citation whose file and ranges are valid: its text, and the fix found so far."""

    citation: Citation
    target: Path
    path: str  # repository path (resolved from a bare name when needed)
    body: str  # folded text of the cited lines
    fixed: bool  # the path was resolved from a bare name


def _resolve_path(
    files: _Files, where: tuple[str, int], cited: Citation, problems: list[SpecProblem]
) -> tuple[Path, str, bool] | None:
    root = files.root
    target = root / cited.path
    if inside(target, root) and target.is_file():
        return target, cited.path, False
    if not inside(target, root):
        problems.append(
            SpecProblem(*where, "missing-file", f"{cited.path} is outside the repository")
        )
        return None
    found = files.candidates(cited.path.removeprefix("./"))
    if not found:
        problems.append(SpecProblem(*where, "missing-file", f"{cited.path} does not exist"))
        return None
    if len(found) > 1:
        # A line a file does not have cannot be meant: keep the candidates long enough.
        last = max(stop for _, stop in cited.ranges)
        fitting = [path for path in found if len(files.read(root / path)) >= last]
        found = fitting if fitting else found
    if len(found) > 1:
        shown = ", ".join(found[:MAX_CANDIDATES]) + (" ..." if len(found) > MAX_CANDIDATES else "")
        problems.append(
            SpecProblem(
                *where,
                "ambiguous-file",
                f"{cited.text}: {cited.path} names {len(found)} files ({shown}); cite the full path",
            )
        )
        return None
    return root / found[0], found[0], True


def _check_one(
    files: _Files, where: tuple[str, int], cited: Citation, problems: list[SpecProblem]
) -> _Resolved | None:
    """Path, ranges, blank lines and symbol of one citation; None when it cannot be read."""
    resolved = _resolve_path(files, where, cited, problems)
    if resolved is None:
        return None
    target, path, fixed = resolved
    lines = files.read(target)
    for start, stop in cited.ranges:
        if start < 1 or stop < start or stop > len(lines):
            problems.append(
                SpecProblem(
                    *where,
                    "bad-range",
                    f"{cited.text}: lines {start}-{stop} outside {path} ({len(lines)} lines)",
                )
            )
            return None
    cited_lines = [line for a, b in cited.ranges for line in lines[a - 1 : b]]
    result = _Resolved(cited, target, path, fold(" ".join(cited_lines)), fixed)
    if cited.symbol is not None and not mentions(result.body, cited.symbol):
        line = find_symbol(lines, cited.symbol)
        if line is None:
            problems.append(
                SpecProblem(
                    *where,
                    "symbol-missing",
                    f"{cited.text}: `{cited.symbol}` is not in {path} any more",
                )
            )
            return None
        _moved(problems, where, result, [(line, line)], f"`{cited.symbol}`")
        return None
    return result


def _moved(
    problems: list[SpecProblem],
    where: tuple[str, int],
    resolved: _Resolved,
    ranges: list[tuple[int, int]],
    what: str,
) -> None:
    fix = f"{resolved.path}:{render_ranges(ranges)}"
    cited = resolved.citation
    problems.append(
        SpecProblem(
            *where,
            "moved",
            f"{cited.text}: {what} moved to {fix}",
            fix=fix,
            span=(cited.start, cited.end),
        )
    )


def _bare_name(problems: list[SpecProblem], where: tuple[str, int], resolved: _Resolved) -> None:
    cited = resolved.citation
    fix = f"{resolved.path}:{render_ranges(cited.ranges)}"
    problems.append(
        SpecProblem(
            *where,
            "bare-name",
            f"{cited.text}: {cited.path} is {resolved.path} (fixable: {fix})",
            severity="warning",
            fix=fix,
            span=(cited.start, cited.end),
        )
    )


def _check_line(
    files: _Files, rel: str, lines: list[str], index: int, line: str
) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    where = (rel, index + 1)
    resolved = [
        found
        for cited in citations_in(line)
        if (found := _check_one(files, where, cited, problems))
    ]
    quote = quote_after(lines, index) if resolved else None
    if quote is not None and not any(fold(quote) in r.body for r in resolved):
        # A quote under a line with several citations must be in one of them.
        for candidate in reversed(resolved):
            found = find_quote(files.read(candidate.target), quote)
            if found is not None:
                _moved(problems, where, candidate, [found], f"the quoted text {fold(quote)!r}")
                resolved.remove(candidate)
                break
        else:
            last = resolved[-1]
            problems.append(
                SpecProblem(
                    rel,
                    quote_line(lines, index) + 1,
                    "quote-mismatch",
                    f"{last.citation.text} does not contain the quoted text {fold(quote)!r} "
                    f"(it reads {last.body[:120]!r}; nor does any line of {last.path})",
                )
            )
    for found in resolved:
        if not found.body and found.citation.symbol is None and quote is None:
            problems.append(
                SpecProblem(*where, "blank-line", f"{found.citation.text}: the cited line is blank")
            )
        elif found.fixed:
            _bare_name(problems, where, found)
    return problems


def check_citations(root: Path, files: list[Path] | None = None) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    cited_files = _Files(root)
    for source in files if files is not None else scanned_files(root):
        rel = source.relative_to(root).as_posix()
        text = _read(source)
        lines = text.split("\n")
        for index, line in prose_lines(text):
            if ":" in line:
                problems.extend(_check_line(cited_files, rel, lines, index, line))
    return problems


def known_findings(root: Path) -> tuple[set[str], list[SpecProblem]]:
    """The finding IDs and, for a findings file without a table, a warning (not an abort)."""
    try:
        return {finding.finding_id for finding in read_findings(root)}, []
    except NoFindingsTable as exc:
        layout = resolve_layout(root)
        warning = SpecProblem(
            layout.rel(layout.findings),
            0,
            "no-findings-table",
            f"{exc}; the IDs its prose names count as findings",
            severity="warning",
        )
        return prose_finding_ids(root, FINDING_REF), [warning]


def check_finding_refs(
    root: Path, *, skip_ids: set[str], files: list[Path] | None = None
) -> list[SpecProblem]:
    """Every finding-style ID outside `skip_ids` (ledger and initiative IDs) must be a finding."""
    known, problems = known_findings(root)
    layout = resolve_layout(root)
    findings_file = layout.findings.resolve()
    for source in files if files is not None else scanned_files(root):
        if source.resolve() == findings_file:
            continue
        rel = source.relative_to(root).as_posix()
        text = _read(source)
        for index, line in prose_lines(text):
            for match in FINDING_REF.finditer(line):
                ref = match.group(1)
                if ref in known or ref in skip_ids or ref in NOT_FINDINGS:
                    continue
                problems.append(
                    SpecProblem(
                        rel,
                        index + 1,
                        "unknown-finding",
                        f"finding {ref} is not in {layout.rel(layout.findings)} "
                        "(add it with `tools findings add`)",
                    )
                )
    return problems


def check_specs(root: Path, *, skip_ids: set[str]) -> list[SpecProblem]:
    files = scanned_files(root)
    return check_citations(root, files) + check_finding_refs(root, skip_ids=skip_ids, files=files)
