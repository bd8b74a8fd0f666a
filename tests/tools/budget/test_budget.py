"""`tools budget`: an item's attempts and the jobs they ran, costed from the rate table; the
sums equal the manifests' own figures; a budget exceeded fails --check; bad tables are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from budget_repo import BURN, Burn, make_repo
from typer.testing import CliRunner

from ptycho_nl.study.jobs import Job, Phase, run_phase
from tools.budget.accounting import link_jobs
from tools.budget.rates import BudgetConfig
from tools.budget.records import Attempt, job_computes
from tools.cli import app

RATES = """
[tool.ptycho-nl.budget]
currency = "EUR"
rates = { cpu = 3600.0, cuda = 7200.0 }
items = { "CORE-001" = 1000.0 }
planned = { "CORE-001" = { cuda = 0.5 } }
job_dirs = ["runs", "study"]
"""

runner = CliRunner()


def _tools(*args: str):
    words = list(args)
    cut = words.index("--") if "--" in words else len(words)
    result = runner.invoke(app, [*words[:cut], "--json", *words[cut:]], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory) -> Path:
    """The simulator's `tiny` preset (64 patterns of 32x32)."""
    from ptycho_nl.simulate import PRESETS, simulate_dataset

    return simulate_dataset(PRESETS["tiny"], tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(tmp_path / "proj", RATES)
    monkeypatch.chdir(root)
    monkeypatch.setenv("TOOLS_ROOT", str(root))
    monkeypatch.delenv("TOOLS_ATTEMPT", raising=False)
    return root


def _train(run_dir: Path, tiny_npz: Path):
    from ptycho_nl.train import PRESET_CONFIGS
    from ptycho_nl.train.loop import train

    config = PRESET_CONFIGS["tiny"].model_copy(update={"epochs": 1})
    assert train(config, tiny_npz, run_dir, progress=False).status == "completed"


def _study(study: Path, loops: int) -> None:
    jobs = [Job(f"B-{i}", BURN, Burn(loops=loops + i)) for i in range(2)]
    run_phase(study, phase=Phase("B", "burn", "burn"), study_digest="d", jobs=jobs)


def _cpu_s(*paths: Path) -> float:
    """CPU seconds of the records, read here straight from the files."""
    total = 0.0
    for path in paths:
        data = json.loads(path.read_text())
        blocks = (
            [j["compute"] for j in data["jobs"].values()] if "jobs" in data else [data["compute"]]
        )
        total += sum(b["cpu_s"] for b in blocks)
    return total


def test_budget_sums_equal_the_manifests_figures(repo, tiny_npz, monkeypatch):
    code, started = _tools("attempt", "start", "CORE-001", "--focus", "train it")
    assert code == 0, started
    monkeypatch.setenv("TOOLS_ATTEMPT", "CORE-001#1")  # as under `tools attempt run`
    _train(repo / "runs" / "linked", tiny_npz)
    _study(repo / "study", 200_000)
    monkeypatch.delenv("TOOLS_ATTEMPT")
    _train(repo / "runs" / "other", tiny_npz)  # outside any attempt: unlinked

    code, out = _tools("budget", "CORE-001")
    assert code == 0 and out["ok"], out
    item = out["data"]["items"][0]
    linked = _cpu_s(repo / "runs/linked/manifest.json", repo / "study/manifests/phase_B.json")
    assert item["used"] == pytest.approx(linked / 3600 * 3600.0, rel=1e-4)  # 3600 EUR/CPU-h
    assert item["hours"]["cpu"] == pytest.approx(linked / 3600, rel=1e-4)
    # Every job is named by its record; the nested run records inside the study jobs are covered
    # by the study's own (not counted twice).
    refs = sorted(j["ref"] for a in item["attempts"] for j in a["jobs"])
    assert refs == [
        "runs/linked/manifest.json#/compute",
        "study/manifests/phase_B.json#/jobs/B-0/compute",
        "study/manifests/phase_B.json#/jobs/B-1/compute",
    ]
    assert all(j["link"] == "env" for a in item["attempts"] for j in a["jobs"])
    assert item["planned"] == 0.5 * 7200.0 and item["projected"] == pytest.approx(
        item["used"] + 3600.0
    )
    assert item["remaining"] == pytest.approx(1000.0 - item["used"])

    code, everything = _tools("budget")
    assert [j["ref"] for j in everything["data"]["unlinked"]] == [
        "runs/other/manifest.json#/compute"
    ]
    other = _cpu_s(repo / "runs/other/manifest.json") / 3600 * 3600.0
    assert everything["data"]["total_used"] == pytest.approx(item["used"] + other, rel=1e-4)


def test_an_exceeded_budget_warns_and_fails_check(repo, tiny_npz, monkeypatch):
    (repo / "pyproject.toml").write_text(RATES.replace('"CORE-001" = 1000.0', '"CORE-001" = 0.0'))
    _tools("attempt", "start", "CORE-001", "--focus", "x")
    monkeypatch.setenv("TOOLS_ATTEMPT", "CORE-001#1")
    _study(repo / "study", 100_000)
    code, out = _tools("budget", "CORE-001")
    assert code == 0 and out["data"]["exceeded"] == ["CORE-001"]
    code, out = _tools("budget", "CORE-001", "--check")
    assert code == 1 and out["error"] == "budget exceeded: CORE-001"


def test_negative_rate_is_one_line_naming_file_and_key(repo, tmp_path):
    bad = tmp_path / "budget.toml"
    bad.write_text("rates = { cpu = -1.0 }\n")
    result = runner.invoke(app, ["budget", "--budget-file", str(bad)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "rates.cpu" in lines[0]
    assert "-1.0" in lines[0] and "Traceback" not in result.output


def test_time_link_needs_exactly_one_enclosing_run(tmp_path):
    _study(tmp_path / "s", 10_000)
    (job,) = [j for j in job_computes(tmp_path, ["s"]) if j.pointer.endswith("B-0/compute")]
    run = {"started_at": "2000-01-01T00:00:00Z", "finished_at": "2100-01-01T00:00:00Z"}
    late = {"started_at": "2099-01-01T00:00:00Z", "finished_at": "2100-01-01T00:00:00Z"}

    def attempt(n, runs):
        return Attempt("CORE-001", n, f"h{n}", f"h{n}/attempt.json", "open", "", None, runs)

    config = BudgetConfig(rates={"cpu": 1.0})
    (cost,) = link_jobs([job], [attempt(1, [run]), attempt(2, [late])], config)
    assert (cost.link, cost.attempt) == ("time", "CORE-001#1")
    (cost,) = link_jobs([job], [attempt(1, [run]), attempt(2, [run])], config)
    assert (cost.link, cost.attempt) == ("none", None)  # two candidates: not guessed
