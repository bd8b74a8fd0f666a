"""`tools specs check` and `tools findings add` on real files in a git repo."""

from __future__ import annotations

import json
from pathlib import Path

from tools.specs.check import check_specs
from tools.specs.findings import read_findings

SPEC = "\n".join(f"line {n} of the spec" for n in range(1, 11)) + "\n"


def _setup(repo: Path) -> None:
    (repo / "specs").mkdir()
    (repo / "specs/data.md").write_text(
        SPEC.replace("line 7 of the spec", "the key `diffraction` is   float32 amplitudes")
    )
    (repo / "docs").mkdir()
    (repo / "docs/findings.md").write_text(
        "# Findings\n\n| Finding ID | Date | Keywords | Synopsis | Evidence Pointer | Status |\n"
        "|---|---|---|---|---|---|\n| DATA-001 | 2026-11-24 | npz | amplitudes | x | active |\n"
    )


def test_true_citations_and_quotes_pass(repo: Path, cli):
    _setup(repo)
    (repo / "fix_plan.md").write_text(
        "## [FOUND-001] f\n- Status: pending\nSee specs/data.md:7 and specs/data.md:2-3.\n"
        "> the key `diffraction` is float32\n"
        "Per DATA-001, and SHA-256 is not a finding. Times like 20:35 are not citations.\n"
        "```\nexample specs/missing.md:999 inside a fence\n```\n"
    )
    assert check_specs(repo, skip_ids={"FOUND-001"}) == []
    result = cli("specs", "check", "--json")
    assert result.exit_code == 0, result.output


def test_false_citations_are_reported_with_lines(repo: Path, cli):
    _setup(repo)
    (repo / "plans/active/X-1").mkdir(parents=True)
    (repo / "plans/active/X-1/plan.md").write_text(
        "# plan\n"
        "Cites specs/nothere.md:3.\n"  # 2
        "Cites specs/data.md:11.\n"  # 3
        "Cites specs/data.md:5-4.\n"  # 4
        "Cites specs/data.md:7\n"  # 5
        "> the key `positions` is float64\n"  # 6
        "Relies on GRID-002.\n"  # 7
    )
    (repo / "docs/guide.md").write_text("Escapes ../outside.md:1 here.\n")
    problems = {(p.path, p.line, p.code) for p in check_specs(repo, skip_ids={"X-1"})}
    plan = "plans/active/X-1/plan.md"
    assert problems >= {
        (plan, 2, "missing-file"),
        (plan, 3, "bad-range"),
        (plan, 4, "bad-range"),
        (plan, 6, "quote-mismatch"),
        (plan, 7, "unknown-finding"),
        ("docs/guide.md", 1, "missing-file"),
    }
    result = cli("specs", "check")
    assert result.exit_code == 1
    assert f"{plan}:6: quote-mismatch" in result.stdout


def test_snapshots_of_the_past_are_not_rechecked(repo: Path):
    _setup(repo)
    hub = repo / "plans/active/X-1/reports/2026-11-24T000000Z/a"
    hub.mkdir(parents=True)
    (hub / "summary.md").write_text("Failed at specs/data.md:99 (file was longer then)\n")
    (repo / "docs/archive").mkdir()
    (repo / "docs/archive/2026-11-24_fix_plan_archive.md").write_text("Old OLD-001 cite\n")
    assert check_specs(repo, skip_ids=set()) == []
    (repo / "plans/active/X-1/plan.md").write_text("Now specs/data.md:99 is wrong\n")
    assert [p.code for p in check_specs(repo, skip_ids={"X-1"})] == ["bad-range"]


def test_findings_add_appends_a_row_and_refuses_duplicates(repo: Path, cli):
    _setup(repo)
    before = (repo / "docs/findings.md").read_text()
    result = cli(
        "findings",
        "add",
        "POLICY-001",
        "--synopsis",
        "torch.load | weights_only",
        "--evidence",
        "specs/data.md:7",
        "--keywords",
        "security",
    )
    assert result.exit_code == 0, result.output
    after = (repo / "docs/findings.md").read_text()
    assert after.startswith(before.rstrip("\n"))
    rows = read_findings(repo)
    assert [r.finding_id for r in rows] == ["DATA-001", "POLICY-001"]
    # Escaped in the file, read back as written (tools.common.markdown).
    assert "| torch.load \\| weights_only |" in after
    assert rows[1].synopsis == "torch.load | weights_only"
    dup = cli("findings", "add", "DATA-001", "--synopsis", "s", "--evidence", "e", "--json")
    assert dup.exit_code == 2 and "already exists" in json.loads(dup.stdout)["error"]
    bad = cli("findings", "add", "lower-1", "--synopsis", "s", "--evidence", "e")
    assert bad.exit_code == 2 and "invalid finding ID" in bad.stderr
