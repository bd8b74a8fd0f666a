"""Several agents in one repository: a pointer per agent ($TOOLS_AGENT) or per working tree,
`--attempt` on every verb, `start --switch`, `resume`, `abandon`. Real `tools` processes, real
pytest runs and a real git repository (and worktree) in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from attempt_repo import PYTEST, fix_calc, git

from tools.attempt.pointers import pointer_path, read_pointer
from tools.attempt.store import RECORD_NAME, list_attempts, load_record
from tools.plan.ledger import Ledger

TOOLS = [sys.executable, "-m", "tools"]


def _agent_script(agent: str, item_id: str) -> str:
    """One agent's whole session as a shell script of `tools` calls (stops on the first error)."""
    tools = " ".join([sys.executable, "-m", "tools"])
    pytest_cmd = " ".join(PYTEST + ["tests/test_calc.py"])
    return "\n".join(
        [
            "set -eu",
            f"export TOOLS_AGENT={agent}",
            f"{tools} attempt start {item_id} --focus 'work of {agent}' --mode Docs --json",
            f"{tools} attempt run cli --name {agent}-a -- python -c 'print(\"{agent}\")'",
            f"{tools} attempt run green --name {agent}-green -- {pytest_cmd}",
            f"echo {agent} > {agent}.txt",
            f"{tools} attempt artifact {agent}.txt",
            f"{tools} attempt finish --status complete --next 'after {agent}'",
        ]
    )


@pytest.mark.slow
def test_two_concurrent_agents_each_finish_their_own_attempt(repo: Path):
    fix_calc(repo)
    env = {
        **os.environ,
        "TOOLS_ROOT": str(repo),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    procs = {
        agent: subprocess.Popen(
            ["bash", "-c", _agent_script(agent, item_id)],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for agent, item_id in (("alice", "CORE-001"), ("bob", "CORE-001"))
    }
    for agent, proc in procs.items():
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, (agent, out[-2000:], err[-2000:])
    records = {r.focus.split()[-1]: r for r in list_attempts(repo, "CORE-001")}
    assert sorted(records) == ["alice", "bob"]
    assert sorted(r.number for r in records.values()) == [1, 2]
    for agent, record in records.items():
        # Nothing crossed: every run, artifact and the next step are the agent's own.
        assert record.status == "complete" and record.next == f"after {agent}"
        assert [run.name for run in record.runs] == [f"{agent}-a", f"{agent}-green"]
        assert [a.path for a in record.artifacts] == [f"data/{agent}.txt"]
        assert (repo / record.hub / "summary.md").is_file()
    # Both entries are in the ledger, in attempt order, and no pointer is left behind.
    item = Ledger.load(repo / "fix_plan.md").find("CORE-001")
    assert [ref.number for ref in item.attempts] == [1, 2]
    assert read_pointer(repo, "alice") is None and read_pointer(repo, "bob") is None


def test_start_refuses_while_one_is_open_unless_switch_then_resume_and_abandon(
    repo: Path, cli_json
):
    code, first = cli_json("attempt", "start", "CORE-001", "--focus", "first")
    assert code == 0 and first["data"]["attempt_id"] == "CORE-001#1"
    code, out = cli_json("attempt", "start", "DOCS-002", "--focus", "second")
    assert code == 1 and "already has attempt CORE-001#1 open" in out["error"]
    assert "--switch" in out["error"] and list_attempts(repo, "DOCS-002") == []

    code, second = cli_json("attempt", "start", "DOCS-002", "--focus", "second", "--switch")
    assert code == 0 and second["data"]["attempt_id"] == "DOCS-002#1"
    assert read_pointer(repo, None).hub == second["data"]["hub"]
    assert load_record(repo / first["data"]["hub"] / RECORD_NAME).status == "open"

    # Resume the first: refused while the second is open, unless --switch.
    code, out = cli_json("attempt", "resume", "CORE-001#1")
    assert code == 1 and "already has attempt DOCS-002#1 open" in out["error"]
    code, out = cli_json("attempt", "resume", "CORE-001#1", "--switch")
    assert code == 0 and read_pointer(repo, None).hub == first["data"]["hub"]
    assert cli_json("attempt", "run", "cli", "--", "true")[0] == 0
    assert len(load_record(repo / first["data"]["hub"] / RECORD_NAME).runs) == 1

    # Abandon the second by id; the first stays current.
    code, out = cli_json("attempt", "abandon", "--attempt", "DOCS-002#1", "--reason", "not now")
    assert code == 0 and out["data"]["record"]["status"] == "abandoned"
    assert out["data"]["record"]["next"] == "abandoned: not now"
    assert (repo / second["data"]["hub"] / "summary.md").is_file()
    assert "Result: abandoned." in (repo / "fix_plan.md").read_text()
    code, out = cli_json("attempt", "resume", "DOCS-002#1")
    assert code == 1 and "is abandoned: start a new attempt" in out["error"]
    assert cli_json("attempt", "show")[1]["data"]["item_id"] == "CORE-001"
    code, out = cli_json("attempt", "abandon", "--reason", "  ")
    assert code == 2 and "--reason must not be empty" in out["error"]


def test_each_agent_has_its_own_pointer_and_attempt_selects_explicitly(
    repo: Path, cli_json, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TOOLS_AGENT", "alice")
    _, alice = cli_json("attempt", "start", "CORE-001", "--focus", "alice")
    monkeypatch.setenv("TOOLS_AGENT", "bob")
    _, bob = cli_json("attempt", "start", "CORE-001", "--focus", "bob")  # not refused
    assert pointer_path(repo, "bob") == repo / "plans/active/.agents/bob.json"
    assert json.loads(pointer_path(repo, "alice").read_text())["hub"] == alice["data"]["hub"]
    assert cli_json("attempt", "run", "cli", "--name", "by-bob", "--", "true")[0] == 0
    code, out = cli_json(
        "attempt", "run", "cli", "--name", "for-alice", "--attempt", "CORE-001#1", "--", "true"
    )
    assert code == 0, out
    (repo / "notes.txt").write_text("n\n")
    code, out = cli_json("attempt", "artifact", "notes.txt", "--attempt", alice["data"]["hub"])
    assert code == 0, out
    names = {
        who: [run.name for run in load_record(repo / d["data"]["hub"] / RECORD_NAME).runs]
        for who, d in (("alice", alice), ("bob", bob))
    }
    assert names == {"alice": ["for-alice"], "bob": ["by-bob"]}
    assert os.environ.get("TOOLS_ATTEMPT") is None  # --attempt did not leak
    code, out = cli_json("attempt", "show", "--attempt", "CORE-001#1")
    assert code == 0 and out["data"]["focus"] == "alice" and len(out["data"]["artifacts"]) == 1

    # Resuming another agent's attempt needs --take, which moves the pointer.
    code, out = cli_json("attempt", "resume", "CORE-001#1", "--switch")
    assert code == 1 and "held by agent 'alice'" in out["error"]
    code, out = cli_json("attempt", "resume", "CORE-001#1", "--switch", "--take")
    assert code == 0 and read_pointer(repo, "alice") is None
    assert read_pointer(repo, "bob").hub == alice["data"]["hub"]
    # `attempt list` says who holds what: #2 is open and held by no one (resume it by id).
    code, out = cli_json("attempt", "list")
    assert [(a["number"], a["status"], a["held_by"]) for a in out["data"]] == [
        (1, "open", ["bob"]),
        (2, "open", []),
    ]

    for bad, why in (
        ("CORE-001#9", "attempt #9 of CORE-001 not found"),
        ("/etc", "is not a hub under plans/active"),
        ("../x", "is not a hub under plans/active"),
    ):
        code, out = cli_json("attempt", "show", "--attempt", bad)
        assert code == 2 and why in out["error"], out
    monkeypatch.setenv("TOOLS_AGENT", "../evil")
    code, out = cli_json("attempt", "show")
    assert code == 2 and "$TOOLS_AGENT='../evil'" in out["error"]
    # A damaged pointer is one line naming its file; one that points outside is refused.
    monkeypatch.setenv("TOOLS_AGENT", "bob")
    pointer_path(repo, "bob").write_text("{not json")
    code, out = cli_json("attempt", "show")
    assert code == 2 and "bob.json: invalid pointer" in out["error"]
    pointer_path(repo, "bob").write_text(
        json.dumps({"item_id": "CORE-001", "number": 1, "hub": "../../etc"})
    )
    code, out = cli_json("attempt", "show")
    assert code == 2 and "key 'hub' points outside plans/active" in out["error"]


def test_without_tools_agent_each_working_tree_has_its_own_pointer(repo: Path, tmp_path: Path):
    worktree = tmp_path / "second-tree"
    git(repo, "worktree", "add", "-q", "-b", "second", str(worktree))
    env = {k: v for k, v in os.environ.items() if k not in ("TOOLS_ROOT", "TOOLS_AGENT")}

    def tools(where: Path, *args: str) -> dict:
        out = subprocess.run(
            [*TOOLS, *args, "--json"],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return {"code": out.returncode, **json.loads(out.stdout)}

    main = tools(repo, "attempt", "start", "CORE-001", "--focus", "main tree")
    other = tools(worktree, "attempt", "start", "CORE-001", "--focus", "second tree")
    assert main["code"] == 0 and other["code"] == 0, (main, other)
    assert read_pointer(repo, None).hub == main["data"]["hub"]
    assert read_pointer(worktree, None).hub == other["data"]["hub"]
    assert tools(worktree, "attempt", "show")["data"]["focus"] == "second tree"
    assert tools(repo, "attempt", "show")["data"]["focus"] == "main tree"


def test_help_names_the_environment_variables(cli):
    attempt_help = cli("attempt", "--help").stdout
    assert "TOOLS_AGENT" in attempt_help and "TOOLS_ATTEMPT" in attempt_help
    assert "--attempt" in cli("attempt", "run", "--help").stdout
    assert "TOOLS_AGENT" in cli("plan", "--help").stdout
    for verb in ("resume", "abandon", "start"):
        assert cli("attempt", verb, "--help").exit_code == 0
