"""`tools specs check` citations that mean something: bare names resolved (or shown ambiguous),
blank lines flagged, moved symbols and quotes found, list and brace forms, specs/ and docs/
scanned, a prose findings file is a warning, and `--fix` rewrites atomically to a clean check."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tools.specs.check import check_specs
from tools.specs.citations import citations_in

MODEL = """import torch


def helper():
    return 1


class Model:
    def forward(self, x):
        return x


def load(path):
    # the loader reads
    # every key of the file
    return path
"""


def _write(repo: Path, rel: str, text: str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (computed here, not by the tool)."""
    return next(n for n, line in enumerate(text.split("\n"), start=1) if needle in line)


def _codes(repo: Path) -> dict[tuple[str, int], list[str]]:
    found: dict[tuple[str, int], list[str]] = {}
    for problem in check_specs(repo, skip_ids=set()):
        found.setdefault((problem.path, problem.line), []).append(problem.code)
    return found


def test_a_unique_bare_name_is_a_fixable_warning_with_the_full_path(repo: Path, cli):
    _write(repo, "ptycho_torch/patch_generator.py", MODEL)
    _write(repo, "docs/notes.md", "The loop is at patch_generator.py:4 and torch/x.py:1.\n")
    _write(repo, "torch/x.py", "x = 1\n")
    problems = check_specs(repo, skip_ids=set())
    assert [(p.code, p.severity, p.fix) for p in problems] == [
        ("bare-name", "warning", "ptycho_torch/patch_generator.py:4")
    ]
    assert "ptycho_torch/patch_generator.py" in problems[0].message
    result = cli("specs", "check")
    assert result.exit_code == 0  # a warning does not fail the check
    assert "docs/notes.md:1: warning: bare-name:" in result.stdout


def test_an_ambiguous_bare_name_lists_its_candidates(repo: Path, cli):
    _write(repo, "a/utils.py", "x = 1\n")
    _write(repo, "b/utils.py", "y = 2\n")
    _write(repo, "specs/s.md", "See utils.py:1 for it.\n")
    problems = check_specs(repo, skip_ids=set())
    assert [p.code for p in problems] == ["ambiguous-file"]
    assert "a/utils.py" in problems[0].message and "b/utils.py" in problems[0].message
    assert problems[0].fix is None
    assert cli("specs", "check").exit_code == 1
    # Only one candidate has a line 4: that one is meant.
    _write(repo, "b/utils.py", "1\n2\n3\n4 the line\n")
    _write(repo, "specs/s.md", "See utils.py:4 for it.\n")
    assert [(p.code, p.fix) for p in check_specs(repo, skip_ids=set())] == [
        ("bare-name", "b/utils.py:4")
    ]


def test_a_citation_of_a_blank_line_is_flagged(repo: Path):
    _write(repo, "pkg/model.py", MODEL)
    blank = MODEL.split("\n").index("")  # 0-based index of the first blank line
    _write(repo, "docs/d.md", f"Imports at pkg/model.py:1, then pkg/model.py:{blank + 1}.\n")
    assert _codes(repo) == {("docs/d.md", 1): ["blank-line"]}


def test_a_moved_symbol_reports_where_it_is_now(repo: Path):
    _write(repo, "pkg/model.py", MODEL)
    now = _line_of(MODEL, "def load(path)")
    _write(
        repo,
        "docs/d.md",
        "Loader: pkg/model.py:2::load.\n"
        "Forward: pkg/model.py:9 (`Model.forward`).\n"  # right: line 9 has it
        "Gone: pkg/model.py:1::vanished.\n",
    )
    problems = {p.line: p for p in check_specs(repo, skip_ids=set())}
    assert problems[1].code == "moved"
    assert f"moved to pkg/model.py:{now}" in problems[1].message
    assert problems[1].fix == f"pkg/model.py:{now}"
    assert 2 not in problems
    assert problems[3].code == "symbol-missing"


def test_a_moved_quote_reports_its_new_lines(repo: Path):
    _write(repo, "pkg/model.py", MODEL)
    start = _line_of(MODEL, "# the loader reads")
    _write(
        repo,
        "specs/loader.md",
        "The loader, pkg/model.py:4-5\n\n> the loader reads   # every key\n"
        "Still true: pkg/model.py:9\n> def forward(self, x):\n",
    )
    problems = check_specs(repo, skip_ids=set())
    assert [(p.path, p.line, p.code) for p in problems] == [("specs/loader.md", 1, "moved")]
    assert f"moved to pkg/model.py:{start}-{start + 1}" in problems[0].message
    # A quote that is nowhere in the file stays a mismatch, on the quote's line.
    _write(repo, "specs/loader.md", "pkg/model.py:4\n> nowhere at all\n")
    assert _codes(repo) == {("specs/loader.md", 2): ["quote-mismatch"]}


def test_brace_and_comma_forms_are_each_checked():
    line = "Both {a.py:1, b/c.py:2,4-5} and d.md:7 (`name`)."
    got = [(c.path, c.ranges, c.symbol, c.text) for c in citations_in(line)]
    assert got == [
        ("a.py", [(1, 1)], None, "a.py:1"),
        ("b/c.py", [(2, 2), (4, 5)], None, "b/c.py:2,4-5"),
        ("d.md", [(7, 7)], "name", "d.md:7"),
    ]
    assert [c.text for c in citations_in("Times 12:30, url http://x.py:3, v1.2:3")] == []


def test_brace_list_problems_name_the_element(repo: Path):
    _write(repo, "a.py", "one\n")
    _write(repo, "b/c.py", "1\n2\n3\n")
    _write(repo, "docs/d.md", "{a.py:1, b/c.py:2,9}\n")
    problems = check_specs(repo, skip_ids=set())
    assert [(p.code, p.message.split(":")[0]) for p in problems] == [("bad-range", "b/c.py")]


def test_specs_and_docs_are_scanned_and_configurable(repo: Path):
    _write(repo, "specs/contract.md", "Key table: specs/missing.md:3\n")
    _write(repo, "docs/guide.md", "Guide: docs/missing.md:1\n")
    _write(repo, "notes/n.md", "Not scanned: notes/missing.md:1\n")
    assert set(_codes(repo)) == {("specs/contract.md", 1), ("docs/guide.md", 1)}
    _write(repo, "pyproject.toml", '[tool.ptycho-nl.tools]\nspecs_dirs = ["notes"]\n')
    assert set(_codes(repo)) == {("notes/n.md", 1)}


def test_findings_file_without_a_table_is_a_warning_not_an_abort(repo: Path, cli):
    _write(repo, "docs/findings.md", "# Findings\n\n## STABLE-GAMMA-001\nZero-gamma stalls.\n")
    _write(repo, "docs/plan.md", "Per STABLE-GAMMA-001 and DATA-002.\n")
    result = cli("specs", "check", "--json")
    assert result.exit_code == 1  # DATA-002 is unknown; the check itself ran
    problems = json.loads(result.stdout)["data"]
    assert [(p["code"], p["severity"]) for p in problems] == [
        ("no-findings-table", "warning"),
        ("unknown-finding", "error"),
    ]
    assert "DATA-002" in problems[1]["message"]


def test_fix_rewrites_atomically_and_the_result_is_clean(repo: Path, cli):
    _write(repo, "ptycho_torch/patch_generator.py", MODEL)
    load = _line_of(MODEL, "def load(path)")
    quote = _line_of(MODEL, "# the loader reads")
    before = (
        "# Notes\r\n"
        "Bare: patch_generator.py:4 and moved: ptycho_torch/patch_generator.py:2::load.\r\n"
        "Both kinds at once: patch_generator.py:1 (`load`), kept text after.\r\n"
        "Quote: ptycho_torch/patch_generator.py:3\r\n"
        "> every key of the file\r\n"
        "```\r\nfenced patch_generator.py:99 is an example\r\n```\r\n"
    )
    path = _write(repo, "docs/notes.md", "")
    path.write_bytes(before.encode("utf-8"))
    inode = path.stat().st_ino
    result = cli("specs", "check", "--fix", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert sorted(p["code"] for p in data["fixed"]) == ["bare-name", "moved", "moved", "moved"]
    assert data["problems"] == []
    full = "ptycho_torch/patch_generator.py"
    expected = (
        before.replace("Bare: patch_generator.py:4", f"Bare: {full}:4")
        .replace(f"{full}:2::load", f"{full}:{load}::load")
        .replace("patch_generator.py:1 (`load`)", f"{full}:{load} (`load`)")
        .replace(f"Quote: {full}:3", f"Quote: {full}:{quote + 1}")
    )
    assert path.read_bytes() == expected.encode("utf-8")
    assert path.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(os.listdir(path.parent)) == ["notes.md"]  # no temp file left behind
    again = cli("specs", "check")
    assert (again.exit_code, again.stdout.strip()) == (0, "specs ok")
