"""Issue 12 forgeries: evidence a careless or dishonest agent could fake is refused, in one line.

Each test is a real `tools attempt` session in a throw-away git repository (real pytest runs, a
fake `pytest` on PATH, a conftest that rewrites the exit status), ending in the refusal.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from attempt_repo import PYTEST, fix_calc

from tools.attempt.store import latest_attempt

SUMMARY = "5 passed in 0.10s"


@pytest.fixture
def started(repo: Path, cli_json) -> Path:
    code, out = cli_json("attempt", "start", "CORE-001", "--focus", "forgery")
    assert code == 0, out
    return repo / out["data"]["hub"]


def _runs(repo: Path) -> list:
    record = latest_attempt(repo, "CORE-001")
    assert record is not None
    return record.runs


def _refused_in_one_line(cli, *args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["echo", SUMMARY],
        [sys.executable, "-c", f"print({SUMMARY!r})"],
        ["echo", "E   AssertionError: assert 1 == 2\n1 failed in 0.1s"],
    ],
    ids=["echo", "python-c", "echo-red"],
)
@pytest.mark.parametrize("kind", ["green", "red"])
def test_a_printed_summary_is_no_evidence(repo, started, cli, cli_json, kind, command):
    line = _refused_in_one_line(cli, "attempt", "run", kind, "--", *command)
    assert "must run pytest" in line
    assert _runs(repo) == [] and not any((started / kind).iterdir())  # nothing recorded
    code, out = cli_json("attempt", "finish")
    assert code == 1 and "no valid GREEN" in out["error"]


def test_shell_runs_never_yield_red_or_green(repo, started, cli):
    for kind in ("red", "green"):
        line = _refused_in_one_line(
            cli, "attempt", "run", kind, "--shell", "--", f"pytest >/dev/null; echo '{SUMMARY}'"
        )
        assert "cannot run through --shell" in line
    assert _runs(repo) == []


def _script(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_fake_shell_pytest_on_path_is_refused(repo, started, cli, monkeypatch):
    fake = _script(repo.parent / "bin", "pytest", f"#!/bin/sh\necho '{SUMMARY}'\n")
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    line = _refused_in_one_line(cli, "attempt", "run", "green", "--", "pytest", "tests")
    assert f"{fake} is not a Python pytest entry point" in line and "/bin/sh" in line
    assert _runs(repo) == []


def test_a_fake_python_pytest_on_path_is_not_green(repo, started, cli_json, monkeypatch):
    # A Python script named pytest passes the resolution, runs, prints a summary and exits 0:
    # it never loads the tool's probe nor writes the JUnit file, so it proves nothing.
    fake = _script(repo.parent / "bin", "pytest", f"#!{sys.executable}\nprint({SUMMARY!r})\n")
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    code, out = cli_json("attempt", "run", "green", "--", "pytest", "tests")
    assert code == 1 and out["data"]["exit_code"] == 0 and not out["data"]["valid"]
    assert out["error"] == (
        "not evidence: no report from the tool's pytest probe: the command did not run pytest"
    )
    assert out["data"]["interpreter"] is None and out["data"]["junit"] is None
    code, out = cli_json("attempt", "finish")
    assert code == 1 and "no valid GREEN" in out["error"]


def test_a_pytest_module_shadowed_in_the_working_tree_is_not_green(repo, started, cli_json):
    # `python -m pytest` finds ./pytest.py first: a stand-in printing a summary.
    (repo / "pytest.py").write_text(f"print({SUMMARY!r})\n")
    code, out = cli_json("attempt", "run", "green", "--", *PYTEST, "tests")
    assert code == 1 and "no report from the tool's pytest probe" in out["error"]


def test_a_red_whose_exit_status_is_rewritten_to_0_is_invalid(repo, started, cli_json):
    (repo / "tests" / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.hookimpl(trylast=True)\n"
        "def pytest_sessionfinish(session):\n    session.exitstatus = 0\n"
    )
    code, out = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 1 and out["data"]["exit_code"] == 0
    assert out["data"]["pytest"]["failed"] == 2  # the JUnit file still shows the failures
    assert "exit" in out["error"] and not out["data"]["valid"]


def test_red_and_green_on_unrelated_tests_do_not_complete(repo, started, cli_json):
    code, _ = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0
    (repo / "tests" / "test_other.py").write_text("def test_other():\n    assert True\n")
    code, _ = cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_other.py")
    assert code == 0
    code, out = cli_json("attempt", "finish")
    assert code == 1
    assert out["error"] == (
        "refusing --status complete: failing in RED red-1 but passing in no later GREEN: "
        "tests.test_calc::test_add, tests.test_calc::test_add_negative"
    )
    # The honest continuation: fix the code, GREEN the tests that failed.
    fix_calc(repo)
    code, _ = cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0
    code, out = cli_json("attempt", "finish")
    assert code == 0, out


def test_a_green_on_the_same_source_tree_as_the_red_does_not_complete(repo, started, cli_json):
    # The test depends on a git-ignored file: creating it turns the RED green without any
    # change to the tested sources, which is no evidence that the code was fixed.
    (repo / ".gitignore").write_text("__pycache__/\n*.pyc\nflag.txt\n")
    (repo / "tests" / "test_flag.py").write_text(
        "from pathlib import Path\n\n\ndef test_flag():\n    assert Path('flag.txt').exists()\n"
    )
    code, red = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_flag.py")
    assert code == 0, red
    (repo / "flag.txt").write_text("on\n")
    code, green = cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_flag.py")
    assert code == 0, green
    assert red["data"]["git"]["tree"] == green["data"]["git"]["tree"] is not None
    code, out = cli_json("attempt", "finish")
    assert code == 1
    assert "no valid GREEN after RED red-1 ran on a different source tree" in out["error"]


def test_honest_launcher_scripts_still_count(repo, started, cli_json, monkeypatch):
    # pyenv/conda-style shims: shell scripts that exec the real interpreter. A `python` shim is
    # asked which interpreter it starts; a `pytest` shim is answered for by the `python` next
    # to it. The probe then confirms that pytest ran in that interpreter.
    folder = repo.parent / "shims"
    _script(folder, "python", f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    _script(folder, "pytest", f'#!/bin/sh\nexec {sys.executable} -m pytest "$@"\n')
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    fix_calc(repo)
    for command in (["python", *PYTEST[1:]], ["pytest", *PYTEST[3:]]):
        code, out = cli_json("attempt", "run", "green", "--", *command, "tests/test_calc.py")
        assert code == 0 and out["data"]["valid"], out
        interpreter = out["data"]["interpreter"]
        assert (
            interpreter["executable"] == interpreter["resolved"] == os.path.realpath(sys.executable)
        )


def test_runs_record_their_source_tree_beside_git_ignored_caches(repo, started, cli_json):
    # A repository whose .gitignore lists pytest's cache, and the cache and an ignored folder
    # under plans/ exist (as after any test run): the tree hash is still taken, the same as
    # without them. Without it no RED can bind its GREEN, and TDD attempts cannot complete.
    (repo / ".gitignore").write_text("__pycache__/\n*.pyc\n.pytest_cache/\nplans/.cache/\n")
    code, before = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0, before
    for ignored in (repo / ".pytest_cache" / "v", repo / "plans" / ".cache"):
        ignored.mkdir(parents=True, exist_ok=True)
        (ignored / "state").write_text("x\n")
    code, after = cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert code == 0, after
    assert after["data"]["git"]["tree"] == before["data"]["git"]["tree"] is not None


def test_a_run_whose_tree_cannot_be_hashed_says_so_at_once(repo, started, cli):
    # Without git the tested sources cannot be hashed: the run is still recorded, and its
    # output says now (not only at finish) that it cannot pair a RED with a GREEN.
    import shutil

    shutil.rmtree(repo / ".git")
    result = cli("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")
    assert "warning: the tested source tree could not be hashed (git)" in result.output
