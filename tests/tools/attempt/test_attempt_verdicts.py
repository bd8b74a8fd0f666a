"""RED / GREEN / collection verdicts from real pytest subprocesses in the throw-away repository."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from attempt_repo import PYTEST, fix_calc


@pytest.fixture
def started(repo: Path, cli_json) -> Path:
    code, out = cli_json("attempt", "start", "CORE-001", "--focus", "verdicts")
    assert code == 0, out
    return repo / out["data"]["hub"]


def test_import_error_is_an_invalid_red(repo: Path, started: Path, cli_json):
    (repo / "tests" / "test_new.py").write_text(
        "from calc import multiply\n\ndef test_m():\n    assert multiply(2, 3) == 6\n"
    )
    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_new.py")
    assert code == 1 and not out["ok"]
    outcome = out["data"]["pytest"]
    assert outcome["errors"] == 1 and outcome["passed"] == outcome["failed"] == 0
    assert outcome["errored"][0]["node_id"] == "tests/test_new.py"
    assert "invalid RED" in out["error"] and "error" in out["error"]


def test_failure_by_name_error_is_not_a_red(repo: Path, started: Path, cli_json):
    (repo / "tests" / "test_new.py").write_text("def test_m():\n    assert multiply(2, 3) == 6\n")
    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_new.py")
    assert code == 1
    failure = out["data"]["pytest"]["failures"][0]
    assert failure["exception"] == "NameError" and failure["assertion"] is False
    assert "not assertions (NameError)" in out["error"]
    assert "assert the expected behaviour" in out["error"]  # what would count


def test_red_that_passes_is_invalid_and_green_that_fails_is_invalid(repo, started, cli_json):
    code, out = cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")
    assert code == 1 and "not GREEN" in out["error"]
    assert out["data"]["pytest"]["failed"] == 2
    fix_calc(repo)
    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 1 and "no test failed (3 passed)" in out["error"]


def test_green_that_selects_nothing_is_not_green(repo, started, cli_json):
    fix_calc(repo)
    code, out = cli_json(
        "attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py", "-k", "nomatch"
    )
    assert code == 1
    outcome = out["data"]["pytest"]
    assert out["data"]["exit_code"] == 5
    assert outcome["passed"] == 0 and outcome["deselected"] == 3 and outcome["collected"] == 3
    assert out["error"] == "invalid GREEN: no test ran (pytest exit 5)"


def test_deselected_and_skipped_are_counted(repo, started, cli_json):
    fix_calc(repo)
    (repo / "tests" / "test_more.py").write_text(
        "import pytest\n\n@pytest.mark.skip\ndef test_s():\n    pass\n\n"
        "@pytest.mark.xfail\ndef test_x():\n    assert 0\n"
    )
    code, out = cli_json("attempt", "run", "green", "--", *PYTEST, "tests", "-k", "not negative")
    assert code == 0, out
    outcome = out["data"]["pytest"]
    assert (outcome["passed"], outcome["skipped"], outcome["xfailed"]) == (2, 1, 1)
    assert outcome["deselected"] == 1 and outcome["collected"] == 5


@pytest.mark.slow  # two xdist sessions: ~3 s idle, more on a loaded 2-core machine
def test_xdist_runs_are_parsed(repo, started, cli_json):
    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "-n", "2", "tests/test_calc.py")
    assert code == 0, out
    outcome = out["data"]["pytest"]
    assert (outcome["passed"], outcome["failed"], outcome["collected"]) == (1, 2, 3)
    assert sorted(f["node_id"] for f in outcome["failures"]) == [
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_add_negative",
    ]
    fix_calc(repo)
    code, out = cli_json("attempt", "run", "green", "--", *PYTEST, "-n", "2", "tests/test_calc.py")
    assert code == 0 and out["data"]["pytest"]["passed"] == 3


def test_counts_come_from_the_junit_file_the_tool_asked_for(repo, started, cli_json):
    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0, out
    run = out["data"]
    assert run["pytest"]["source"] == "junit" and run["junit"] == "red/red-1.junit.xml"
    assert run["command"][:5] == [*PYTEST[:3], "-p", "_tools_attempt_probe"]
    assert run["command"][-1] == f"--junitxml={started / 'red/red-1.junit.xml'}"
    assert run["argv"] == [*PYTEST, "tests/test_calc.py"]  # as given, without the tool's options
    # The interpreter is the one that ran, as pytest's own process reported it.
    interpreter = run["interpreter"]
    assert (
        interpreter["executable"] == interpreter["resolved"] == str(Path(sys.executable).resolve())
    )
    assert interpreter["prefix"] == sys.prefix and interpreter["pytest"] == pytest.__version__
    assert len(run["git"]["tree"]) == 40


def test_killed_command_is_not_green(repo, started, cli_json):
    fix_calc(repo)
    (repo / "tests" / "test_kill.py").write_text(
        "import os, signal\n\ndef test_dies():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    code, out = cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_kill.py")
    assert code == 1
    assert (out["data"]["exit_code"], out["data"]["signal"]) == (137, 9)
    assert out["data"]["verdict"].startswith("killed by signal 9")

    script = "import os, signal; print('bye', flush=True); os.kill(os.getpid(), signal.SIGTERM)"
    code, out = cli_json("attempt", "run", "cli", "--", sys.executable, "-c", script)
    assert code == 1 and out["data"]["exit_code"] == 143 and out["data"]["signal"] == 15
    assert (started / out["data"]["log"]).read_text() == "bye\n"


def test_cli_runs_record_exit_codes(repo, started, cli_json):
    code, out = cli_json(
        "attempt",
        "run",
        "cli",
        "--name",
        "fails",
        "--",
        sys.executable,
        "-c",
        "raise SystemExit(3)",
    )
    assert code == 1 and out["data"]["exit_code"] == 3 and out["data"]["log"] == "cli/fails.log"
    code, out = cli_json(
        "attempt",
        "run",
        "cli",
        "--expect-exit",
        "3",
        "--",
        sys.executable,
        "-c",
        "raise SystemExit(3)",
    )
    assert code == 0 and out["data"]["valid"]
    # A taken name is suffixed, never overwritten: the first log keeps its evidence.
    code, out = cli_json("attempt", "run", "cli", "--name", "fails", "--", "true")
    assert code == 0 and out["data"]["log"] == "cli/fails-2.log"
    code, out = cli_json("attempt", "run", "cli", "--", "no-such-command-xyz")
    assert code == 2 and "command not found" in out["error"]
    assert sorted(p.name for p in (started / "cli").iterdir()) == [
        "cli-1.log",
        "fails-2.log",
        "fails.log",
    ]


def test_collection_proofs(repo, started, cli_json):
    code, out = cli_json("attempt", "collect", "--", *PYTEST, "tests/test_calc.py", "-k", "nomatch")
    assert code == 1 and out["data"]["exit_code"] == 5 and out["data"]["count"] == 0
    assert "no tests collected" in out["error"]
    code, out = cli_json("attempt", "collect", "--", *PYTEST, "tests/test_calc.py::test_missing")
    assert code == 1 and out["data"]["exit_code"] == 4
    code, out = cli_json("attempt", "collect", "--", *PYTEST, "tests/test_calc.py::test_add_zero")
    assert code == 0 and out["data"]["node_ids"] == ["tests/test_calc.py::test_add_zero"]
    code, out = cli_json("attempt", "collect", "--", "ls")
    assert code == 2 and "needs a pytest command" in out["error"]
