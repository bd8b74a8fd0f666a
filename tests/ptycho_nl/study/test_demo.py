"""What `ptycho-nl demo` promises, proven without running the whole demo preset.

The demo (four cells, two networks trained for tens of epochs, ePIE) takes minutes; these tests
split what it proves: the path and every structural property on a design of the demo's shape
with tiny budgets, run through the command line; the demo command reaching the same runner as
`study run` (a bad `--out` refused in one line before any job); and the PINN's quality bar on
the one cell where the demo asserts it, at the demo's training budget.
"""

import json
import re

import pytest
from study_reports import report_rows
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.study.design import DENSE, PRESETS, StudyDesign
from ptycho_nl.study.dose_overlap import run_study
from ptycho_nl.study.jobs import load_manifest
from ptycho_nl.study.phases import COMPARE, ITERATIVE, TRAIN, dose_tag

runner = CliRunner()

DEMO = PRESETS["demo"]

# The demo's shape (its doses, views, networks and solver, probe and tiles) on a 128-pixel
# object with budgets that only have to show each stage working: the path, not the quality.
DEMO_SHAPED = StudyDesign.model_validate(
    {
        **DEMO.model_dump(),
        "name": "demo_shaped",
        "object_size": 128,
        "epochs": 3,
        "pinn_epochs": 3,
        "iterations": 10,
        # The shipped bundle fits the demo's own 256-pixel object only (test_pretrained.py).
        "pretrained": [],
    }
)

# The one cell of the demo that carries its quality bar, at the demo's budget (see the test).
QUALITY_CELL = StudyDesign(
    name="demo_quality_cell",
    doses=[max(DEMO.doses)],
    views=[DENSE],
    models=["pinn"],
    object_size=DEMO.object_size,
    patch_size=DEMO.patch_size,
    simulation_seed=DEMO.simulation_seed,
    batch_size=DEMO.batch_size,
    learning_rate=DEMO.learning_rate,
    pinn_gridsize=DEMO.pinn_gridsize,
    pinn_epochs=DEMO.pinn_epochs,
    pinn_learning_rate=DEMO.pinn_learning_rate,
    pinn_schedule=DEMO.pinn_schedule,
    tiles_per_side=DEMO.tiles_per_side,
    channels=DEMO.channels,
    global_features=DEMO.global_features,
    early_stop_patience=DEMO.early_stop_patience,
)


def test_the_reduced_designs_keep_what_they_claim_of_the_demo():
    for field in ("doses", "views", "models", "iterative", "patch_size", "pinn_gridsize"):
        assert getattr(DEMO_SHAPED, field) == getattr(DEMO, field), field
    assert DEMO_SHAPED.tiles_per_side == DEMO.tiles_per_side
    assert DENSE in DEMO.views and QUALITY_CELL.doses == [max(DEMO.doses)]


@pytest.mark.parametrize("command", [["demo"], ["study", "run", "--preset", "demo"]])
def test_an_out_path_that_is_a_file_is_a_one_line_usage_error(tmp_path, command):
    # The demo command goes through the same runner as `study run`: both refuse a file as the
    # study directory before any job runs, in one line (it was a FileExistsError traceback).
    out = tmp_path / "report.md"
    out.write_text("kept")
    result = runner.invoke(app, [*command, "--out", str(out)])
    assert result.exit_code == 2
    assert f"--out {out}: exists and is not a directory" in result.stderr
    assert "Traceback" not in result.output
    assert out.read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    result = runner.invoke(app, [*command, "--out", str(out), "--json"])
    envelope = json.loads(result.stdout)
    assert result.exit_code == 2 and envelope["ok"] is False
    assert "not a directory" in envelope["error"]


@pytest.mark.slow
def test_a_demo_shaped_study_runs_end_to_end_and_its_report_matches_the_manifests(tmp_path):
    design_file = tmp_path / "design.json"
    design_file.write_text(DEMO_SHAPED.model_dump_json())
    out = tmp_path / "study"
    result = runner.invoke(
        app, ["study", "run", "--design", str(design_file), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is True and envelope["error"] is None
    summary = envelope["data"]
    design = DEMO_SHAPED
    assert summary["design_digest"] == design.digest
    assert summary["failed_jobs"] == 0
    g = load_manifest(out, COMPARE.key)
    e = load_manifest(out, TRAIN.key)
    f = load_manifest(out, ITERATIVE.key)
    assert {j.params["model"] for j in e.jobs.values()} == set(design.models)
    # Every network's training loss fell, and each row of the report traces to a completed job.
    for job in e.jobs.values():
        assert job.metrics["last_train_loss"] < job.metrics["first_train_loss"], job.job_id
    report = (out / "report.md").read_text()
    assert design.digest in report
    rows = report_rows(report)
    cells = len(design.doses) * len(design.views)
    arms = len(design.models) * (1 + len(design.hybrid))  # each network alone and hybrid
    expected = cells * (arms + len(design.iterative) + 1)
    assert len(rows) == expected
    for view, dose, method, phase_ssim, amplitude_ssim, nrmse, *_, source in rows:
        job = g.jobs[f"G-{dose_tag(float(dose))}-{view}"]
        m = job.metrics["methods"][method]
        assert float(phase_ssim) == pytest.approx(m["phase_ssim"], abs=5e-4)
        assert float(amplitude_ssim) == pytest.approx(m["amplitude_ssim"], abs=5e-4)
        assert float(nrmse) == pytest.approx(m["nrmse"], abs=5e-4)
        if method != "constant":
            producer = e.jobs.get(source) or f.jobs.get(source)
            assert producer is not None and producer.status == "completed", source
    comparisons = json.loads((out / "manifests" / "comparisons.json").read_text())["comparisons"]
    assert comparisons and all(c["p_adjusted"] >= c["p_value"] - 1e-12 for c in comparisons)
    better = [c for c in comparisons if "better" in c["verdict"]]
    assert better  # so the interval check below is not vacuous
    for c in better:
        assert c["ci_low"] > 0 or c["ci_high"] < 0
    # The iterative baseline converges: its Fourier error falls at every dose and view.
    solvers = [j for j in f.jobs.values() if j.kind == "run_iterative"]
    assert len(solvers) == cells * len(design.iterative)
    for job in solvers:
        assert job.metrics["final_fourier_error"] < job.metrics["first_fourier_error"]
    hybrids = [j for j in f.jobs.values() if j.kind == "run_hybrid"]
    assert len(hybrids) == cells * len(design.models) * len(design.hybrid)
    assert "## Quality against wall time" in report and "## Verdict" in report
    assert re.search(r"!\[Quality versus dose\]\(figures/quality_vs_dose.png\)", report)


@pytest.mark.slow
def test_at_the_demos_highest_dose_on_the_dense_view_the_pinn_beats_a_featureless_object(
    tmp_path,
):
    """The demo's quality bar on the one cell where the demo asserts it (deterministic, seeded).

    Kept from the demo: everything the PINN's result depends on: object (256 px, procedural,
    simulation seed 0), N = 32 probe, dose 1e5, dense overlap 0.7, gridsize 2, the PINN's
    learning rate and schedule, batch size, 60 epochs, 4x4 tiles. Shrunk: the other three
    (dose, view) cells, the supervised network and ePIE are not run. A smaller object (128-192 px), fewer epochs,
    smaller batches or a larger learning rate were tried and do not clear the bar.
    """
    result = run_study(QUALITY_CELL, tmp_path)
    assert result.failed_jobs == 0
    dose = max(QUALITY_CELL.doses)
    top = load_manifest(tmp_path, COMPARE.key).jobs[f"G-{dose_tag(dose)}-dense"].metrics
    methods = top["methods"]
    assert methods["pinn"]["phase_ssim"] > methods["constant"]["phase_ssim"] + 0.05
    assert methods["pinn"]["nrmse"] < methods["constant"]["nrmse"]
    comparisons = json.loads((tmp_path / "manifests" / "comparisons.json").read_text())
    verdicts = {
        (c["view"], c["dose"], c["metric"], c["method_a"], c["method_b"]): c["verdict"]
        for c in comparisons["comparisons"]
    }
    assert verdicts[("dense", dose, "nrmse", "constant", "pinn")] == "pinn better"
