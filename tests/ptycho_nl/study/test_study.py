"""The dose/overlap study end to end on tiny designs, and its design validation.

The tiny designs prove the path (every phase runs, a re-run skips, a lost output is redone, the
report renders from the manifests); what the demo preset promises is in test_demo.py.
"""

import json
import os

import pytest
from study_reports import report_rows
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.study.design import PRESETS, StudyDesign, ViewSpec
from ptycho_nl.study.dose_overlap import run_study
from ptycho_nl.study.jobs import load_manifest
from ptycho_nl.study.phases import COMPARE, GENERATE, ITERATIVE, TRAIN, VIEWS
from ptycho_nl.train.config import ScheduleConfig

runner = CliRunner()

TINY = StudyDesign(
    name="tiny",
    doses=[1e4],
    views=[ViewSpec(name="dense", overlap=0.7)],
    iterative=["epie"],
    object_size=96,
    patch_size=32,
    iterations=40,
    tiles_per_side=3,
)

# Both networks for a few epochs on the tiny object: the training phase's path, not its quality.
TINY_NETWORKS = StudyDesign(
    name="tiny_networks",
    doses=[1e5],
    views=[ViewSpec(name="dense", overlap=0.7)],
    models=["pinn", "supervised"],
    hybrid=["epie"],
    hybrid_iterations=3,
    object_size=96,
    patch_size=32,
    epochs=2,
    pinn_epochs=2,
    pinn_learning_rate=3e-3,
    pinn_schedule={"name": "cosine", "min_lr_factor": 0.05},
    batch_size=8,
    early_stop_patience=5,  # never reached in 2 epochs: here only its way to the trainer
    network_moment_rounds=1,  # here its way to the network arm's reconstruction
    tiles_per_side=3,
)


def test_tiny_study_runs_resumes_and_reports_from_manifests(tmp_path):
    first = run_study(TINY, tmp_path)
    assert first.failed_jobs == 0
    assert first.phases[COMPARE.key] == {"completed": 1, "failed": 0, "skipped": 0}
    g = load_manifest(tmp_path, COMPARE.key)
    methods = g.jobs["G-d1e4-dense"].metrics["methods"]
    assert set(methods) == {"epie", "constant"}
    # ePIE converges on this data: it must beat a featureless object by a wide margin.
    assert methods["epie"]["phase_ssim"] > methods["constant"]["phase_ssim"] + 0.2
    assert methods["epie"]["nrmse"] < methods["constant"]["nrmse"]
    report = (tmp_path / "report.md").read_text()
    # Each results row in the report equals the manifest's numbers and names its source job.
    rows = report_rows(report)
    assert len(rows) == 2
    for _view, _dose, method, phase_ssim, _, nrmse, *_, source in rows:
        m = methods[method]
        assert float(phase_ssim) == pytest.approx(m["phase_ssim"], abs=5e-4)
        assert float(nrmse) == pytest.approx(m["nrmse"], abs=5e-4)
        assert source == str(m["source_job"])
    assert first.design_digest in report
    # The measured overlap is reported, not the requested one.
    d = load_manifest(tmp_path, VIEWS.key).jobs["D-d1e4-dense"].metrics
    assert d["overlap_measured"] != d["overlap_requested"]
    assert f"{d['overlap_measured']:.3f}" in report

    # A re-run skips every job and reports the same results (only the phase counts change).
    second = run_study(TINY, tmp_path)
    assert all(c["skipped"] == sum(c.values()) for c in second.phases.values())
    assert report_rows((tmp_path / "report.md").read_text()) == rows
    # Losing one output redoes that job (and only that job) on the next run.
    (tmp_path / g.jobs["G-d1e4-dense"].outputs["aligned"].path).unlink()
    third = run_study(TINY, tmp_path)
    assert third.phases[COMPARE.key]["completed"] == 1
    assert third.phases[ITERATIVE.key]["skipped"] == 1

    # `ptycho-nl report` re-renders from the manifests alone, to the same text.
    report = (tmp_path / "report.md").read_text()
    (tmp_path / "report.md").unlink()
    result = runner.invoke(app, ["report", "study", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").read_text() == report
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3


def test_networks_train_reconstruct_and_are_compared_on_a_tiny_design(tmp_path, monkeypatch):
    # The user's OMP_NUM_THREADS caps a job's threads (else one job takes every core).
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = run_study(TINY_NETWORKS, tmp_path)
    assert result.failed_jobs == 0
    assert set(result.phases) == {GENERATE.key, VIEWS.key, TRAIN.key, ITERATIVE.key, COMPARE.key}
    e = load_manifest(tmp_path, TRAIN.key)
    assert {j.params["model"] for j in e.jobs.values()} == {"pinn", "supervised"}
    for job in e.jobs.values():
        assert job.status == "completed" and job.metrics["epochs"] == 2, job.job_id
        assert job.outputs["object"].path == f"runs/{job.job_id}/recon/object.npy"
        # The PINN's own peak rate and cosine schedule reach its trainer; the supervised
        # network keeps the design's constant rate (read back from each run's epoch log).
        log = json.loads((tmp_path / job.outputs["metrics"].path).read_text())
        rates = [epoch["lr"] for epoch in log["epochs"]]
        if job.params["model"] == "pinn":
            assert 0.05 * 3e-3 <= rates[1] < rates[0] <= 3e-3  # decaying from 3e-3
        else:
            assert rates == pytest.approx([TINY_NETWORKS.learning_rate] * 2)
        run = json.loads((tmp_path / f"runs/{job.job_id}/run/manifest.json").read_text())
        assert run["environment"]["torch_threads"] == 1
        recon = json.loads((tmp_path / f"runs/{job.job_id}/recon/recon.json").read_text())
        assert recon["options"]["moment_rounds"] == 1
        assert recon["options"]["moment_rounds_kept"] in (0, 1)
        assert ("moments" in recon["stages"]) and recon["quality"][0]["seconds"] > 0
        config = json.loads((tmp_path / f"runs/{job.job_id}/run/config.json").read_text())
        assert config["early_stop_patience"] == 5 and run["metrics"]["stopped_early_at"] is None
        # A study keeps the final numbered checkpoint (with last and best), not one per epoch.
        checkpoints = tmp_path / f"runs/{job.job_id}/run/checkpoints"
        assert sorted(f.name for f in checkpoints.glob("*.pt")) == [
            "best_model.pt",
            "checkpoint_epoch_2.pt",
            "last_model.pt",
        ]
    g = load_manifest(tmp_path, COMPARE.key).jobs["G-d1e5-dense"]
    hybrids = {"pinn+epie", "supervised+epie"}
    assert set(g.metrics["methods"]) == {"pinn", "supervised", "constant", *hybrids}
    assert g.metrics["methods"]["pinn"]["source_job"] == "E-d1e5-dense-pinn-s0"
    f = load_manifest(tmp_path, ITERATIVE.key)
    hybrid = f.jobs[g.metrics["methods"]["pinn+epie"]["source_job"]]
    assert hybrid.kind == "run_hybrid" and hybrid.inputs["bundle"].path.startswith("runs/E-")
    assert hybrid.metrics["network_seconds"] > 0 and hybrid.metrics["refine_seconds"] > 0
    # Every row of the report traces to a completed training job.
    report = (tmp_path / "report.md").read_text()
    rows = report_rows(report)
    assert len(rows) == 5
    for *_, method, _phase_ssim, _amp, _nrmse, _psnr, _frc, source in rows:
        if method in ("pinn", "supervised"):
            assert e.jobs[source].status == "completed"
        elif method != "constant":
            assert f.jobs[source].status == "completed"
    # The report leads with a computed verdict and quality against wall time from the traces.
    assert report.index("## Verdict") < report.index("## Quality against wall time")
    assert report.index("## Quality against wall time") < report.index("## Phases")
    assert "![Quality against wall time](figures/quality_vs_time.png)" in report
    for method in ("pinn", "supervised", *hybrids):
        assert f"| dense | 1e+05 | {method} |" in report
    # All pairs on every compared metric, BH-adjusted, and a "better" only with a clear interval.
    record = json.loads((tmp_path / "manifests" / "comparisons.json").read_text())
    assert record["metrics"] == {"phase_ssim": True, "amplitude_ssim": True, "nrmse": False}
    comparisons = record["comparisons"]
    assert len(comparisons) == 3 * (5 * 4 // 2)  # every pair of 5 methods on 3 metrics
    assert all(c["p_adjusted"] >= c["p_value"] - 1e-12 for c in comparisons)
    for c in comparisons:
        if "better" in c["verdict"]:
            assert c["ci_low"] > 0 or c["ci_high"] < 0
    assert "![Learning curves](figures/learning_curves.png)" in report


def test_the_plan_wires_every_input_to_a_job_it_requires():
    from ptycho_nl.study.plan import plan_jobs

    phases = plan_jobs(PRESETS["paper"])
    jobs = {job.job_id: (phase, job) for phase, js in phases.items() for job in js}
    assert len(jobs) == sum(len(js) for js in phases.values())  # ids are unique

    def upstream(job_id):  # every job id `job_id` waits for, directly or through another
        found = set(jobs[job_id][1].requires)
        for r in jobs[job_id][1].requires:
            found |= upstream(r)
        return found

    for job_id, (phase, job) in jobs.items():
        assert job_id.startswith(f"{phase.key}-")
        for path in job.inputs.values():
            producer = path.split("/")[1]
            assert producer in upstream(job_id), (job_id, path)
            assert path.startswith(jobs[producer][0].job_dir(producer) + "/"), (job_id, path)
    design = PRESETS["paper"]
    cells = len(design.doses) * len(design.views)
    assert len(phases[TRAIN]) == cells * len(design.models) * len(design.seeds)
    hybrids = len(design.models) * len(design.seeds) * len(design.hybrid)
    assert len(phases[ITERATIVE]) == cells * (len(design.iterative) + hybrids)
    assert len(phases[COMPARE]) == cells


def test_no_library_function_looks_like_a_test_to_pytest():
    import importlib
    import pkgutil

    import ptycho_nl.study

    for info in pkgutil.iter_modules(ptycho_nl.study.__path__):
        module = importlib.import_module(f"ptycho_nl.study.{info.name}")
        assert not [n for n in vars(module) if n.startswith("test")], info.name


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"models": ["pinn", "transformer"]}, "models"),
        ({"doses": [-1e3]}, "doses"),
        ({"views": [{"name": "dense", "overlap": 1.2}]}, "views.0.overlap"),
        ({"views": [{"name": "dense", "overlap": 0.0}]}, "views.0.overlap"),
        ({"epochs": 0}, "epochs"),
        ({"pinn_gridsize": 4}, "pinn_gridsize"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_design_is_rejected_before_any_work(tmp_path, patch, field):
    design = {**TINY.model_dump(mode="json"), **patch}
    path = tmp_path / "design.json"
    path.write_text(json.dumps(design))
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "run", "--design", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert field in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_study_run_needs_exactly_one_design_source(tmp_path):
    result = runner.invoke(app, ["study", "run", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "exactly one of --design FILE or --preset NAME" in result.output
    result = runner.invoke(app, ["study", "run", "--preset", "huge", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "unknown preset 'huge'" in result.output


def test_report_of_a_non_study_directory_fails_cleanly(tmp_path):
    result = runner.invoke(app, ["report", "study", str(tmp_path)])
    assert result.exit_code == 1
    assert "no phase manifests" in result.output


def test_networks_can_train_on_many_other_objects_and_are_scored_on_the_study_object(tmp_path):
    design = TINY_NETWORKS.model_copy(
        update={"models": ["supervised"], "hybrid": [], "network_data": "objects",
                "training_objects": 3, "name": "tiny_objects"}
    )  # fmt: skip
    result = run_study(design, tmp_path)
    assert result.failed_jobs == 0
    c = load_manifest(tmp_path, GENERATE.key)
    objects = c.jobs["C-d1e5-dense-objects"]
    assert objects.kind == "build_objects" and objects.status == "completed"
    assert (tmp_path / objects.outputs["qc"].path).is_file()  # QC-gated like the cell's data
    e = load_manifest(tmp_path, TRAIN.key).jobs["E-d1e5-dense-supervised-s0"]
    assert e.inputs["train"].path == objects.outputs["train"].path
    assert "C-d1e5-dense-objects" in e.inputs["train"].path
    # Scored like any network: on the study object's held-out region, against the constant.
    g = load_manifest(tmp_path, COMPARE.key).jobs["G-d1e5-dense"]
    assert set(g.metrics["methods"]) == {"supervised", "constant"}


def test_the_design_s_network_shape_reaches_every_training_job_and_its_digest_only_when_set():
    from ptycho_nl.study.plan import plan_jobs

    demo = PRESETS["demo"]
    assert (demo.channels, demo.global_features) == ((16, 32, 64), 256)  # the compact network
    plain = demo.model_copy(update={"channels": (32, 64, 128), "global_features": 0})
    dumped = plain.model_dump()
    assert "global_features" not in dumped and "channels" not in dumped  # older digests hold
    assert demo.digest != plain.digest
    for design in (plain, demo):
        # the networks trained here (a shipped bundle's job trains nothing)
        trains = [j for j in plan_jobs(design)[TRAIN] if j.kind.name == "train_network"]
        assert trains
        for job in trains:
            assert job.params.global_features == design.global_features
            assert tuple(job.params.channels) == tuple(design.channels)
            assert ("global_features" in job.params.model_dump()) == bool(design.global_features)
    # The PINN's schedule and rate enter the digests only when set (older designs keep theirs).
    assert demo.pinn_schedule.name == "cosine" and demo.pinn_learning_rate == 3e-3
    constant = demo.model_copy(
        update={"pinn_schedule": ScheduleConfig(), "pinn_learning_rate": None}
    )
    assert not {"pinn_schedule", "pinn_learning_rate"} & set(constant.model_dump())
    for job in plan_jobs(constant)[TRAIN]:
        assert "schedule" not in job.params.model_dump()  # nor in a shipped bundle's job
    # So does early stopping: the demo's patience reaches both networks' jobs.
    assert demo.early_stop_patience == 10
    never = demo.model_copy(update={"early_stop_patience": 0})
    assert "early_stop_patience" not in never.model_dump() and never.digest != demo.digest
    patience = {
        j.params.early_stop_patience
        for j in plan_jobs(demo)[TRAIN]
        if j.kind.name == "train_network"
    }
    assert patience == {10}
    assert all("early_stop_patience" not in j.params.model_dump() for j in plan_jobs(never)[TRAIN])
    # And the network arms' moment rounds: every network job of the demo (trained or shipped)
    # gets them; at 0 they leave the design's and the jobs' digests as they were.
    assert demo.network_moment_rounds == 1
    bare = demo.model_copy(update={"network_moment_rounds": 0})
    assert "network_moment_rounds" not in bare.model_dump() and bare.digest != demo.digest
    kinds = {j.kind.name for j in plan_jobs(demo)[TRAIN]}
    assert kinds == {"train_network", "use_pretrained"}
    assert {j.params.moment_rounds for j in plan_jobs(demo)[TRAIN]} == {1}
    assert all("moment_rounds" not in j.params.model_dump() for j in plan_jobs(bare)[TRAIN])


def test_a_gridsize_3_design_trains_the_pinn_on_groups_of_nine(tmp_path):
    # Validated (model_copy would not be): the design itself must accept a gridsize of 3.
    design = StudyDesign.model_validate(
        {**TINY_NETWORKS.model_dump(), "pinn_gridsize": 3, "models": ["pinn"]}
    )
    result = run_study(design, tmp_path)
    assert result.failed_jobs == 0
    (job,) = load_manifest(tmp_path, TRAIN.key).jobs.values()
    assert job.params["gridsize"] == 3
    run = tmp_path / f"runs/{job.job_id}/run"
    assert json.loads((run / "config.json").read_text())["data"]["gridsize"] == 3
    assert job.metrics["last_train_loss"] < job.metrics["first_train_loss"]


def test_the_terminal_summary_keeps_its_columns_aligned_for_long_method_names():
    from ptycho_nl.evaluate.metrics import AMPLITUDE_SSIM, NRMSE, PHASE_SSIM
    from ptycho_nl.study.dose_overlap import StudyResult, summary_table

    scores = {PHASE_SSIM.name: 0.1, AMPLITUDE_SSIM.name: 0.2, NRMSE.name: 0.3}
    rows = [
        {"view": "dense", "dose": 1e5, "method": method, **scores}
        for method in ("epie", "pinn-pretrained+epie")
    ]
    result = StudyResult(
        study_dir="s",
        design_digest="d",
        phases={"G": {"completed": 1, "skipped": 0, "failed": 0}},
        failed_jobs=0,
        rows=rows,
        report_markdown="s/report.md",
        report_html="s/report.html",
    )
    header, short, long = summary_table(result).splitlines()[:3]
    assert len(header) == len(short) == len(long)  # the 20-character name widens its column
    assert long.split() == ["dense", "1e+05", "pinn-pretrained+epie", "0.100", "0.200", "0.300"]
