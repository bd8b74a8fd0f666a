"""`tools plan ...` through the real Typer app and real subprocesses in a git repo in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ledger_samples import HAND_KEPT

from tools.plan.entries import AttemptEntry, append_attempt_entry
from tools.plan.ledger import Ledger


def _json(result) -> dict:
    return json.loads(result.stdout)


def test_add_set_next_show_round_trip(repo: Path, cli):
    assert (
        cli("plan", "add", "FOUND-001", "--title", "Foundation", "--priority", "1").exit_code == 0
    )
    result = cli(
        "plan",
        "add",
        "TRAIN-001",
        "--title",
        "Trainers",
        "--depends",
        "FOUND-001",
        "--priority",
        "0",
        "--exit-criteria",
        "trains end to end",
    )
    assert result.exit_code == 0, result.output
    # TRAIN-001 has the better priority but waits for FOUND-001.
    data = _json(cli("plan", "next", "--json"))
    assert data["ok"] and data["data"]["id"] == "FOUND-001"
    # No attempt backs `done` here (tests/tools/plan/test_lifecycle.py has the verified path).
    assert cli("plan", "set", "FOUND-001", "--status", "done").exit_code == 1
    assert cli("plan", "set", "FOUND-001", "--status", "done", "--force").exit_code == 0
    assert _json(cli("plan", "next", "--json"))["data"]["id"] == "TRAIN-001"
    shown = _json(cli("plan", "show", "TRAIN-001", "--json"))["data"]
    assert shown["depends"] == ["FOUND-001"]
    assert "- Exit Criteria: trains end to end\n" in shown["text"]
    ledger = Ledger.load(repo / "fix_plan.md")
    assert [i.item_id for i in ledger.items] == ["FOUND-001", "TRAIN-001"]
    assert ledger.find("FOUND-001").status == "done"


def test_set_on_hand_kept_ledger_changes_the_status_and_the_stamp_only(repo: Path, cli):
    path = repo / "fix_plan.md"
    path.write_bytes(HAND_KEPT.replace("\n", "\r\n").encode())
    before = path.read_bytes().split(b"\r\n")
    result = cli("plan", "set", "B-002", "--status", "blocked")
    assert result.exit_code == 0, result.output
    after = path.read_bytes().split(b"\r\n")
    diff = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    # The header's Last Updated value (tool clock) and the one Status line, its trailing text
    # kept; CRLF kept on both.
    assert len(diff) == 2
    assert after[diff[1]] == b"- Status: blocked \xe2\x80\x94 Phase E6 waiting for the bridge"
    stamp = after[diff[0]].decode()
    assert stamp.startswith("**Last Updated:** 20") and stamp.endswith("Z")
    assert stamp != before[diff[0]].decode()


def test_errors_are_one_line_with_exit_codes(repo: Path, cli):
    (repo / "fix_plan.md").write_text(HAND_KEPT)
    ghost = cli("plan", "add", "E-005", "--title", "t", "--depends", "A-001,GHOST-9")
    assert ghost.exit_code == 2 and "GHOST-9, which is not in the ledger" in ghost.stderr
    bad_id = cli("plan", "set", "../../etc", "--status", "done")
    assert bad_id.exit_code == 2 and "invalid item ID" in bad_id.stderr
    assert "Traceback" not in bad_id.output
    missing = cli("plan", "show", "NOPE-1")
    assert missing.exit_code == 2 and "no item [NOPE-1]" in missing.stderr
    status = cli("plan", "set", "A-001", "--status", "finished", "--json")
    assert status.exit_code == 2 and _json(status)["error"].startswith("invalid status")
    assert (repo / "fix_plan.md").read_text() == HAND_KEPT


def test_unreadable_ledger_is_one_line_error(repo: Path, cli):
    missing = cli("plan", "next")
    assert missing.exit_code == 2 and "ledger not found" in missing.stderr
    (repo / "fix_plan.md").mkdir()
    result = cli("plan", "lint")
    assert result.exit_code == 2 and "cannot read the ledger" in result.stderr
    assert "Traceback" not in result.output


def test_lint_malformed_ledger_reports_lines_and_exit_1(repo: Path, cli):
    text = HAND_KEPT + "## [E-005] broken\n- Depends on: GHOST-1\n- Status: someday\n"
    (repo / "fix_plan.md").write_text(text)
    result = cli("plan", "lint", "--json")
    assert result.exit_code == 1
    problems = _json(result)["data"]
    lines = {(p["line"], p["code"]) for p in problems}
    n = HAND_KEPT.count("\n")
    assert (n + 2, "missing-dependency") in lines and (n + 3, "unknown-status") in lines
    assert (repo / "fix_plan.md").read_text() == text


def test_archive_moves_old_entries_and_leaves_pointer(repo: Path, cli):
    (repo / "fix_plan.md").write_text(HAND_KEPT)
    result = cli("plan", "archive", "--keep", "1", "--json")
    assert result.exit_code == 0, result.output
    data = _json(result)["data"]
    assert data["moved"] == 1
    archive = (repo / data["archive"]).read_text()
    assert "Attempt #1 — loop" in archive and "A continuation line" in archive
    ledger = Ledger.load(repo / "fix_plan.md")
    b = ledger.find("B-002")
    assert [a.number for a in b.attempts] == [2]
    text = ledger.text()
    assert f"* Attempts #1–#1 archived to {data['archive']}" in text
    assert "A continuation line" not in text
    # Everything outside the moved lines is unchanged.
    assert text.replace(
        f"  * Attempts #1–#1 archived to {data['archive']}\n", ""
    ) == HAND_KEPT.replace(
        "  * [2025-10-19T10:00:00Z] Attempt #1 — loop (Mode: TDD). Result: partial.\n"
        "    A continuation line of the first entry.\n",
        "",
    )


def test_concurrent_set_and_append_lose_no_update(repo: Path):
    """Processes editing the ledger at once: every edit survives (lock + atomic replace)."""
    ids = [f"C-{n:03d}" for n in range(6)]
    (repo / "fix_plan.md").write_text(
        "# Fix Plan Ledger\n\n"
        + "".join(f"## [{i}] t\n- Status: pending\n- Attempts History:\n\n" for i in ids)
    )
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from tools.plan.entries import AttemptEntry, append_attempt_entry\n"
        "item = sys.argv[1]\n"
        "for n in range(1, 6):\n"
        "    append_attempt_entry(Path('fix_plan.md'), item, AttemptEntry(timestamp='T', "
        "number=n, focus='f', result='partial', artifacts='a', next='n'))\n"
    )
    env = {**os.environ, "TOOLS_ROOT": str(repo)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, item], cwd=repo, env=env)
        for item in ids[:3]
    ]
    procs += [
        subprocess.Popen(
            [sys.executable, "-m", "tools", "plan", "set", item, "--status", "in_progress"],
            cwd=repo,
            env=env,
        )
        for item in ids[3:]
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * len(procs)
    ledger = Ledger.load(repo / "fix_plan.md")
    for item in ids[:3]:
        assert [a.number for a in ledger.find(item).attempts] == [1, 2, 3, 4, 5]
    for item in ids[3:]:
        assert ledger.find(item).status == "in_progress"


def test_append_attempt_entry_without_lock_for_lock_holders(repo: Path):
    from tools.common.fsutil import repo_lock

    (repo / "fix_plan.md").write_text(HAND_KEPT)
    entry = AttemptEntry(
        timestamp="2025-10-23T00:00:00Z",
        number=3,
        focus="x",
        result="complete",
        evidence="GREEN 5 passed",
        artifacts="plans/active/B-002/reports/h",
        next="—",
    )
    with repo_lock(repo):  # not re-entrant: lock=True here would deadlock
        append_attempt_entry(repo / "fix_plan.md", "B-002", entry, lock=False)
    assert [a.number for a in Ledger.load(repo / "fix_plan.md").find("B-002").attempts] == [1, 2, 3]


def test_console_script_start_up_imports_no_heavy_modules(repo: Path):
    code = (
        "import sys, tools.cli\n"
        "heavy = [m for m in ('torch', 'git', 'hypothesis', 'rich.table', 'numpy') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    help_out = subprocess.run(
        ["tools", "plan", "--help"], capture_output=True, text=True, cwd=repo, check=True
    )
    for verb in ("next", "show", "add", "set", "lint", "archive"):
        assert verb in help_out.stdout
