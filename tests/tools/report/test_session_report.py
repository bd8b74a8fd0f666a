"""`tools report session --since T`: a scripted session's report lists exactly the records
written after T (attempts, their runs, QC records, gate reports, blockers, budget), each with
the path of its record, and nothing from before."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from budget_repo import BURN, Burn, make_repo
from typer.testing import CliRunner

from ptycho_nl.study.jobs import Job, Phase, run_phase
from tools.cli import app

runner = CliRunner()
RATES = '[tool.ptycho-nl.budget]\nrates = { cpu = 36.0 }\nitems = { "CORE-001" = 5.0 }\n'


def _tools(*args: str):
    words = list(args)
    cut = words.index("--") if "--" in words else len(words)
    result = runner.invoke(app, [*words[:cut], "--json", *words[cut:]], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def _gate_report(directory: Path, created_at: str, passed: bool) -> Path:
    from ptycho_nl.gates.model import GateReport, ItemResult
    from ptycho_nl.gates.render import write_report

    items = [
        ItemResult(name="loss_finite", verdict="pass", measured=1.0),
        ItemResult(name="loss_decreased", verdict="pass" if passed else "fail", measured=0.0),
    ]
    report = GateReport(
        gate="post_training", target=str(directory), items=items, passed=passed,
        created_at=created_at,
    )  # fmt: skip
    return write_report(report, directory)["json"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(tmp_path / "proj", RATES)
    (root / "tests").mkdir()
    (root / "tests" / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("TOOLS_ROOT", str(root))
    monkeypatch.delenv("TOOLS_ATTEMPT", raising=False)
    return root


@pytest.mark.slow
def test_session_report_lists_exactly_the_records_since(repo, monkeypatch, tmp_path):
    from ptycho_nl.gates.data_qc import run_data_qc
    from ptycho_nl.simulate import PRESETS, simulate_dataset

    # --- before the session: an attempt and a gate report that must not appear ---------------
    _tools("attempt", "start", "CORE-001", "--focus", "earlier")
    _tools("attempt", "run", "cli", "--", sys.executable, "-c", "print(1)")
    _tools("attempt", "finish", "--status", "partial")
    _gate_report(repo / "runs" / "old", "2020-01-01T00:00:00Z", passed=True)
    time.sleep(1.1)  # attempt times have whole seconds
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)

    # --- the session ----------------------------------------------------------------------------
    _tools("attempt", "start", "CORE-001", "--focus", "green it", "--mode", "Parity")
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    code, green = _tools("attempt", "run", "green", "--", *pytest_cmd)
    assert code == 0, green
    monkeypatch.setenv("TOOLS_ATTEMPT", "CORE-001#2")
    run_phase(repo / "study", phase=Phase("B", "burn", "burn"), study_digest="d",
              jobs=[Job("B-0", BURN, Burn(loops=50_000))])  # fmt: skip
    monkeypatch.delenv("TOOLS_ATTEMPT")
    _tools("attempt", "finish", "--status", "partial")
    _tools("attempt", "start", "DOCS-002", "--focus", "docs")
    _tools("attempt", "block", "--signature", "KeyError: 'x'", "--root-cause", "no x",
           "--fix", "add x")  # fmt: skip
    data = simulate_dataset(PRESETS["tiny"], repo / "data" / "tiny.npz")
    _, qc_path = run_data_qc(data)
    gate = _gate_report(repo / "runs" / "new", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        passed=False)  # fmt: skip

    result = runner.invoke(app, ["report", "session", "--since", since], catch_exceptions=False)
    code, out = _tools("report", "session", "--since", since)
    assert code == 0 and result.exit_code == 0, out
    r = out["data"]
    hubs = {a["attempt"]: a for a in r["attempts"]}
    attempts = sorted(
        (json.loads(p.read_text()) for p in repo.glob("plans/active/*/reports/*/*/attempt.json")),
        key=lambda a: (a["item_id"], a["number"]),
    )
    after = [a for a in attempts if a.get("finished_at") and a["finished_at"] >= since]
    assert sorted(hubs) == [f"{a['item_id']}#{a['number']}" for a in after]
    assert "CORE-001#1" not in hubs and "CORE-001#2" in hubs
    second = hubs["CORE-001#2"]
    assert [(run["kind"], run["verdict"], run["valid"]) for run in second["runs"]] == [
        (run["kind"], run["verdict"], run["valid"])
        for run in next(a for a in attempts if a["number"] == 2 and a["item_id"] == "CORE-001")["runs"]
    ]  # fmt: skip
    assert second["runs"][0]["record"].endswith("attempt.json#/runs/0")
    qc = json.loads(qc_path.read_text())
    assert [(c["record"], c["passed"], c["failing"]) for c in r["qc"]] == [
        (qc_path.relative_to(repo).as_posix(), qc["passed"], qc["failing"])
    ]
    assert [(c["record"], c["failing"]) for c in r["gates"]] == [
        (gate.relative_to(repo).as_posix(), ["loss_decreased"])
    ]
    assert [b["attempt"] for b in r["blockers"]] == ["DOCS-002#1"]
    (core,) = [b for b in r["budget"] if b["item"] == "CORE-001"]
    phase = json.loads((repo / "study/manifests/phase_B.json").read_text())
    job_cpu = phase["jobs"]["B-0"]["compute"]["cpu_s"]

    def runs_cpu(number):  # what the attempt's captured runs recorded (wait4 of each child)
        (a,) = [a for a in attempts if a["item_id"] == "CORE-001" and a["number"] == number]
        return sum(run["cpu_s"] for run in a["runs"] if run.get("cpu_s") is not None)

    # Each attempt's own CPU (its runs', less the jobs linked to it) plus the job, at 36 / h.
    earlier, session = runs_cpu(1), max(0.0, runs_cpu(2) - job_cpu) + job_cpu
    assert runs_cpu(1) > 0 and runs_cpu(2) > 0  # the runs' CPU is recorded
    assert core["used"] == pytest.approx((earlier + session) / 3600 * 36.0, rel=1e-6, abs=1e-9)
    assert core["used_since"] == pytest.approx(session / 3600 * 36.0, rel=1e-6, abs=1e-9)
    assert core["records"][0] == "study/manifests/phase_B.json#/jobs/B-0/compute"
    assert r["next"]["item"] in {"CORE-001", "DOCS-002"}
    # The Markdown names the same records.
    records = [second["record"], r["qc"][0]["record"], r["gates"][0]["record"]]
    for record in [*records, r["blockers"][0]["record"], core["records"][0]]:
        assert record in result.stdout
    assert "runs/old" not in result.stdout


def test_since_that_is_not_a_time_is_one_line(repo):
    result = runner.invoke(app, ["report", "session", "--since", "yesterday"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --since 'yesterday': expected ISO-8601 UTC, e.g. 2026-12-01T09:00:00Z"
    ]
