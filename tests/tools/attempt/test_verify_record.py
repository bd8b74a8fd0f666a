"""`tools attempt verify` / `tools verify` check the record, not only bytes (issue 12, item 3).

Honest sessions are real RED/GREEN pytest runs in a throw-away git repository; the forgeries are
hand edits of the files the tool wrote (with and without re-sealing the record through the model,
as a forger using the tool's own code would).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from attempt_repo import PYTEST, fix_calc, make_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tools.attempt.records import SEAL_FIELD, AttemptRecord
from tools.attempt.verify import verify_hub, verify_repository


def honest_session(cli_json, repo: Path, *, collect: bool = True, finish: str | None = "complete"):
    """start -> (collect) -> RED -> fix -> GREEN -> artifact -> (finish); returns the hub."""
    code, out = cli_json("attempt", "start", "CORE-001", "--focus", "verify me")
    assert code == 0, out
    hub = repo / out["data"]["hub"]
    if collect:
        assert cli_json("attempt", "collect", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    assert cli_json("attempt", "run", "red", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    fix_calc(repo)
    assert cli_json("attempt", "run", "green", "--", *PYTEST, "tests/test_calc.py")[0] == 0
    (repo / "result.txt").write_text("3\n")
    assert cli_json("attempt", "artifact", "result.txt")[0] == 0
    if finish:
        code, out = cli_json("attempt", "finish", "--status", finish, "--next", "done")
        assert code == 0, out
    return hub


def _in_process_cli(repo: Path):
    """`tools ... --json` in-process against `repo` (for sessions outside the repo fixture)."""
    from tools.cli import app

    runner = CliRunner()

    def cli_json(*args: str) -> tuple[int, dict]:
        cut = args.index("--") if "--" in args else len(args)
        result = runner.invoke(app, [*args[:cut], "--json", *args[cut:]], catch_exceptions=False)
        return result.exit_code, json.loads(result.stdout)

    return cli_json


def _session_in(repo: Path, **options) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(repo)
        mp.setenv("TOOLS_ROOT", str(repo))
        mp.delenv("TOOLS_AGENT", raising=False)
        return honest_session(_in_process_cli(repo), repo, **options)


@pytest.fixture(scope="module")
def finished_session(tmp_path_factory) -> tuple[Path, Path]:
    """One honest finished session per module (4 real pytest runs); tests edit copies of it."""
    repo = make_repo(tmp_path_factory.mktemp("honest") / "proj")
    return repo, _session_in(repo)


@pytest.fixture
def hub(finished_session, repo: Path) -> Path:
    """A copy of the honest session's repository, as the `repo` the test runs in."""
    source, source_hub = finished_session
    shutil.rmtree(repo)
    shutil.copytree(source, repo, symlinks=True)
    return repo / source_hub.relative_to(source)


def _problems(repo: Path, hub: Path) -> set[str]:
    return {p.problem for p in verify_hub(repo, hub) if p.severity == "error"}


def test_an_honest_session_verifies(repo: Path, hub: Path, cli_json):
    assert verify_hub(repo, hub) == []
    code, out = cli_json("attempt", "verify", "--all")
    assert code == 0 and out["data"]["hubs"] == 1 and out["data"]["problems"] == [], out
    code, out = cli_json("verify")
    assert code == 0 and out["data"]["hubs"] == 1, out
    record = json.loads((hub / "attempt.json").read_text())
    assert record["previous_sha256"] and record[SEAL_FIELD] != record["previous_sha256"]
    assert record[SEAL_FIELD] in (hub / "summary.md").read_text()


def _edit_record(hub: Path, change, *, reseal: bool) -> None:
    path = hub / "attempt.json"
    raw = json.loads(path.read_text())
    change(raw)
    if reseal:  # what the tool's own model would write: a valid seal over the edited content
        seal = raw.pop(SEAL_FIELD)
        record = AttemptRecord.model_validate(raw)
        assert record.record_sha256 != seal
        path.write_text(record.model_dump_json(indent=2) + "\n")
    else:
        path.write_text(json.dumps(raw, indent=2) + "\n")


def _red(raw: dict) -> dict:
    return next(run for run in raw["runs"] if run["kind"] == "red")


EDITS = {
    "passed count": lambda raw: _red(raw)["pytest"].update(passed=3),
    "verdict": lambda raw: _red(raw).update(verdict="RED: 9 assertion failure(s)"),
    "exit code": lambda raw: _red(raw).update(exit_code=0),
    "started_at": lambda raw: raw.update(started_at="2020-01-01T00:00:00Z"),
    "valid": lambda raw: _red(raw).update(valid=False),
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_a_hand_edited_record_fails_verification(repo: Path, hub: Path, cli, field: str):
    _edit_record(hub, EDITS[field], reseal=False)
    assert "seal broken" in _problems(repo, hub)
    result = cli("attempt", "verify")
    assert result.exit_code == 1 and "seal broken" in result.stdout


RESEALED = {
    "passed count": "verdict differs",
    "verdict": "verdict differs",
    "exit code": "verdict differs",
    "started_at": "times",
    "valid": "verdict differs",
}


@pytest.mark.parametrize("field", sorted(RESEALED))
def test_a_resealed_edit_still_fails_where_the_files_disagree(repo: Path, hub: Path, field):
    _edit_record(hub, EDITS[field], reseal=True)
    found = _problems(repo, hub)
    assert RESEALED[field] in found
    # The summary was rendered from the record as it was: it no longer matches.
    assert "summary differs" in found


def test_a_deleted_record_or_hub_fails(repo: Path, hub: Path, cli_json):
    (hub / "attempt.json").unlink()
    code, out = cli_json("attempt", "verify")
    assert code == 1 and out["error"] == "1 problem(s) in 1 of 1 hub(s)"
    assert [(p["path"], p["problem"]) for p in out["data"]["problems"]] == [
        ("attempt.json", "missing")
    ]
    # The whole hub gone: the ledger entry that cites it still fails `tools verify`.
    shutil.rmtree(hub)
    code, out = cli_json("verify")
    assert code == 1
    assert [p["problem"] for p in out["data"]["problems"]] == ["missing"]
    assert out["data"]["problems"][0]["hub"] == hub.relative_to(repo).as_posix()
    assert "ledger cites a hub that is gone" in out["data"]["problems"][0]["detail"]


def test_an_edited_summary_or_stored_junit_fails(repo: Path, hub: Path):
    summary = hub / "summary.md"
    text = summary.read_text()
    summary.write_text(text.replace("Result: **complete**", "Result: **complete** (fast)"))
    assert _problems(repo, hub) == {"summary differs"}
    summary.write_text(text)
    junit = hub / "red" / "red-1.junit.xml"
    junit.write_text(junit.read_text().replace('name="test_add"', 'name="test_sub"'))
    assert _problems(repo, hub) == {"modified", "verdict differs"}


def _as_schema_1(raw: dict) -> dict:
    """What the tool wrote before evidence binding: no seal, no binding fields."""
    raw.pop(SEAL_FIELD)
    raw.pop("previous_sha256")
    raw["schema_version"] = 1
    for entry in [*raw["runs"], *raw["collections"]]:
        for key in ("command", "probe", "probe_sha256", "interpreter", "junit", "junit_sha256"):
            entry.pop(key, None)
        if entry.get("git"):
            entry["git"].pop("tree", None)
    return raw


def test_a_legacy_record_is_a_warning_not_a_failure(repo: Path, hub: Path):
    record = hub / "attempt.json"
    record.write_text(json.dumps(_as_schema_1(json.loads(record.read_text()))))
    problems = verify_hub(repo, hub)
    assert [(p.problem, p.severity) for p in problems] == [("legacy record", "warning")]
    assert verify_repository(repo).errors == []


def test_a_stripped_seal_does_not_pass_as_legacy(repo: Path, hub: Path):
    record = hub / "attempt.json"
    raw = json.loads(record.read_text())
    raw.pop(SEAL_FIELD)
    raw["schema_version"] = 1
    record.write_text(json.dumps(raw))
    assert "seal missing" in _problems(repo, hub)


def _flip(path: Path, position: int, delta: int) -> bytes:
    data = path.read_bytes()
    edited = bytearray(data)
    edited[position] = (edited[position] + delta) % 256
    path.write_bytes(bytes(edited))
    return data


@pytest.mark.slow  # each example is a real session (4 pytest runs); a few examples only
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    collect=st.booleans(),
    finish=st.sampled_from([None, "complete", "partial"]),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 255))),
)
def test_honest_sessions_verify_and_no_single_byte_edit_does(
    tmp_path_factory, collect, finish, edits
):
    repo = make_repo(tmp_path_factory.mktemp("session") / "proj")
    hub = _session_in(repo, collect=collect, finish=finish)
    assert verify_hub(repo, hub) == []
    files = sorted(path for path in hub.rglob("*") if path.is_file())
    assert {"attempt.json", "red-1.log", "red-1.junit.xml", "red-1.probe.json"} <= {
        p.name for p in files
    }
    for which, where, delta in [*edits, (0, 0, 1)]:
        path = files[which % len(files)]
        original = _flip(path, where % path.stat().st_size, delta)
        try:
            assert _problems(repo, hub), f"undetected edit of {path.name} at byte {where}"
        finally:
            path.write_bytes(original)
    assert verify_hub(repo, hub) == []


def test_a_parallel_verification_reports_what_a_serial_one_does(repo: Path, hub: Path, monkeypatch):
    import tools.attempt.verify as verify

    for i in range(3):  # copies of the hub: a folder each, one with a stale record
        shutil.copytree(hub, hub.parent / f"copy-{i}")
    monkeypatch.setattr(verify, "PARALLEL_FROM", 2)
    serial = verify_repository(repo, workers=1)
    parallel = verify_repository(repo, workers=2)
    assert serial.hubs == parallel.hubs == 4 and serial.files == parallel.files
    assert serial.problems == parallel.problems
    # Each copy still records the original hub path: reported as moved, in both modes.
    assert {p.problem for p in serial.problems} == {"moved"}
