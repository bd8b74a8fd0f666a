"""`tools` in a repository laid out differently: the ledger is `docs/fix_plan.md` in the
single-initiative layout, found through `[tool.ptycho-nl.tools]` in pyproject.toml, through
`tools --ledger PATH` and through $TOOLS_LEDGER; a bad table is one line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.cli import app
from tools.common.layout import LEDGER_ENV, resolve_layout

LEDGER = """# Fix Plan

## Status
`in_progress`

## Current Focus
**GRID-LINES-001 — Grid-based lines workflow**
- Working Plan: `plans/active/GRID-LINES-001/implementation.md`

## Attempts History

### 2026-01-26T00:00Z — GRID-LINES-001.P0 (planning kickoff)
**Action:** Inspected the notebook; see patch_generator.py:2 for the patch loop.

### 2026-01-27T00:35Z — GRID-LINES-001.T1 (workflow skeleton)
**Artifacts:** `plans/active/GRID-LINES-001/reports/2026-01-27T003500Z/`
"""
TABLE = '[project]\nname = "foreign"\n\n[tool.ptycho-nl.tools]\nledger = "docs/fix_plan.md"\n'
ID = "GRID-LINES-001"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def foreign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed repository with no fix_plan.md at its root; tools run inside it."""
    root = tmp_path / "foreign"
    (root / "docs").mkdir(parents=True)
    (root / "docs/fix_plan.md").write_text(LEDGER, encoding="utf-8")
    (root / "docs/findings.md").write_text("# Findings\n\nPOISSON-001: loss scale differs.\n")
    (root / "src/pkg").mkdir(parents=True)
    (root / "src/pkg/patch_generator.py").write_text("import numpy\nfor patch in grid:\n    pass\n")
    for rel in (
        "plans/active/GRID-LINES-001/implementation.md",
        "plans/active/GRID-LINES-001/reports/2026-01-27T003500Z/log.txt",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    (root / "pyproject.toml").write_text(TABLE)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.chdir(root)
    monkeypatch.delenv("TOOLS_ROOT", raising=False)
    monkeypatch.delenv(LEDGER_ENV, raising=False)
    return root


def _tools(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("TOOLS_ROOT", LEDGER_ENV)}
    return subprocess.run(
        ["tools", *args], cwd=root, env={**clean, **(env or {})}, capture_output=True, text=True
    )


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.slow
def test_configured_by_pyproject_every_reader_sees_docs_fix_plan(foreign: Path):
    status = _tools(foreign, "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)["data"]
    assert [(r["id"], r["status"], r["attempts"]) for r in rows] == [(ID, "in_progress", 2)]
    nxt = _tools(foreign, "plan", "next", "--json")
    assert json.loads(nxt.stdout)["data"]["id"] == ID
    lint = _tools(foreign, "plan", "lint", "--json")
    assert lint.returncode == 0, lint.stdout
    specs = _tools(foreign, "specs", "check", "--json")
    assert specs.returncode == 0, specs.stdout  # only warnings
    codes = {(p["path"], p["code"]) for p in json.loads(specs.stdout)["data"]}
    assert codes == {("docs/fix_plan.md", "bare-name"), ("docs/findings.md", "no-findings-table")}


def test_layout_resolves_each_source_in_order(foreign: Path, monkeypatch: pytest.MonkeyPatch):
    assert resolve_layout(foreign).ledger == foreign / "docs/fix_plan.md"
    assert resolve_layout(foreign).ledger_source == "pyproject.toml"
    monkeypatch.setenv(LEDGER_ENV, "other.md")
    assert resolve_layout(foreign).ledger == foreign / "other.md"
    assert resolve_layout(foreign, ledger="x/y.md").ledger == foreign / "x/y.md"
    monkeypatch.delenv(LEDGER_ENV)
    (foreign / "pyproject.toml").write_text('[project]\nname = "foreign"\n')
    layout = resolve_layout(foreign)
    assert (layout.ledger, layout.plans, layout.findings) == (
        foreign / "fix_plan.md",
        foreign / "plans",
        foreign / "docs/findings.md",
    )
    assert layout.specs_dirs == (foreign / "specs", foreign / "docs")


def test_without_the_table_ledger_option_and_env_point_at_it(foreign: Path):
    (foreign / "pyproject.toml").write_text('[project]\nname = "foreign"\n')
    help_text = " ".join(_cli("--help").output.split())
    assert "--ledger" in help_text and "$TOOLS_LEDGER" in help_text
    missing = _cli("plan", "next")
    assert missing.exit_code == 2
    assert "fix_plan.md: ledger not found" in missing.output
    result = _cli("--ledger", "docs/fix_plan.md", "plan", "next", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data"]["id"] == ID
    # The option lasts for its command only.
    assert LEDGER_ENV not in os.environ
    edit = _cli("--ledger", "docs/fix_plan.md", "plan", "set", ID, "--status", "blocked")
    assert edit.exit_code == 0, edit.output
    text = (foreign / "docs/fix_plan.md").read_text()
    assert text == LEDGER.replace("`in_progress`", "`blocked`")
    assert not (foreign / "fix_plan.md").exists()
    # $TOOLS_LEDGER, relative to the repository root, from a subdirectory.
    env = _tools(foreign / "src", "status", "--json", env={LEDGER_ENV: "docs/fix_plan.md"})
    assert env.returncode == 0, env.stderr
    assert json.loads(env.stdout)["data"][0]["status"] == "blocked"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("ledger = 3", "[tool.ptycho-nl.tools] ledger: expected a path string, found 3"),
        ('specs_dirs = "docs"', "specs_dirs: expected a list of path strings, found 'docs'"),
        ('ledgr = "x.md"', "unknown key 'ledgr': expected one of ledger, plans_dir"),
        (
            'ledger = "../outside.md"',
            "ledger: expected a path inside the repository",
        ),
    ],
)
def test_a_bad_table_is_one_line_naming_file_key_expected_found(foreign: Path, table, expected):
    (foreign / "pyproject.toml").write_text(f"[tool.ptycho-nl.tools]\n{table}\n")
    result = _cli("plan", "next", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert "pyproject.toml" in error and expected in error
    assert "\n" not in error and "Traceback" not in result.output


def test_a_configured_plans_dir_holds_initiatives_and_status_lines(foreign: Path):
    (foreign / "pyproject.toml").write_text(TABLE + 'plans_dir = "work/plans"\n')
    made = _cli("initiative", "new", ID, "--title", "grid", "--phase", "A:Skeleton", "--json")
    assert made.exit_code == 0, made.output
    assert (foreign / "work/plans/active" / ID / "plan.md").is_file()
    lines = json.loads(_cli("status-line", "--all", "--json").stdout)["data"]
    assert list(lines) == [ID] and "Phase A PENDING" in lines[ID]
