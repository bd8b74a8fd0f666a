"""docs/agent_workflow.md runs as written: every ```bash block, in order, in one shell, in a
throw-away git repository in tmp_path, with the installed `tools` and `python` on PATH."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.attempt.store import list_attempts
from tools.plan.ledger import Ledger

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent_workflow.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(DOC.read_text(encoding="utf-8"))]


def test_every_block_of_the_walk_is_a_runnable_bash_block():
    blocks = _blocks()
    assert len(blocks) >= 6
    assert {language for language, _ in blocks} == {"bash"}
    assert blocks[0][1].startswith("set -euo pipefail\n")


@pytest.mark.slow
def test_the_documented_lifecycle_runs_as_written(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLS_")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        env[f"{key}_NAME"], env[f"{key}_EMAIL"] = "Agent", "agent@example.com"
    script = "\n".join(body for _, body in _blocks())
    out = subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])

    # What the walk says it did, read back from the files it left.
    ledger = Ledger.load(project / "fix_plan.md")
    assert ledger.find("CALC-001").status == "done"
    assert ledger.find("DOCS-001").status == "done"
    assert [r.status for r in list_attempts(project, "CALC-001")] == [
        "complete",
        "complete",
        "abandoned",
    ]
    assert [r.status for r in list_attempts(project, "DOCS-001")] == ["blocked", "complete"]
    assert [ref.number for ref in ledger.find("CALC-001").attempts] == [1, 2, 3]
    assert "[UNVERIFIED" not in (project / "fix_plan.md").read_text()
    plan = (project / "plans/active/CALC-001/plan.md").read_text()
    assert "| A | Fix add | complete |" in plan and "| B | Document it | complete |" in plan
    lines = out.stdout.splitlines()
    assert "[CALC-001] add adds (priority 1, pending)" in lines
    assert "[DOCS-001] document calc (priority 2, pending)" in lines
    assert "no actionable item" in lines  # bob, while alice holds DOCS-001
    assert any(line.startswith("[DOSE-001] Dose ground-truth bundle") for line in lines)
    assert (
        not (project / "plans/claims.json").exists()
        or "DOCS-001" not in (project / "plans/claims.json").read_text()
    )
