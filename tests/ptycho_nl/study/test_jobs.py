"""The phase runner: skip unchanged work, redo changed or tampered work, isolate failures."""

import json

from study_jobfns import __name__ as FNS  # noqa: N812  (module path for the runner)

from ptycho_nl.study.jobs import Job, load_manifest, manifest_path, run_phase


def _calls(study):
    path = study / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def _jobs(value=1):
    return [
        Job("A-1", f"{FNS}:write_value", {"value": value}),
        Job("A-2", f"{FNS}:explode", {}),
        Job("A-3", f"{FNS}:write_value", {"value": 3}),
    ]


def test_failures_are_isolated_and_recorded(tmp_path):
    manifest = run_phase(tmp_path, phase="A", title="t", study_digest="d", jobs=_jobs())
    statuses = {k: v.status for k, v in manifest.jobs.items()}
    assert statuses == {"A-1": "completed", "A-2": "failed", "A-3": "completed"}
    assert manifest.jobs["A-2"].error == "KeyError: 'diffraction'"
    on_disk = json.loads(manifest_path(tmp_path, "A").read_text())
    assert (
        on_disk["jobs"]["A-1"]["outputs"]["value"]["sha256"]
        == manifest.jobs["A-1"].outputs["value"].sha256
    )
    assert manifest.counts() == {"completed": 2, "failed": 1, "skipped": 0}


def test_rerun_skips_completed_jobs_and_retries_failed_ones(tmp_path):
    run_phase(tmp_path, phase="A", title="t", study_digest="d", jobs=_jobs())
    assert len(_calls(tmp_path)) == 2
    second = run_phase(tmp_path, phase="A", title="t", study_digest="d", jobs=_jobs())
    assert {k: v.status for k, v in second.jobs.items()} == {
        "A-1": "skipped",
        "A-2": "failed",
        "A-3": "skipped",
    }
    assert len(_calls(tmp_path)) == 2  # nothing re-ran
    assert second.jobs["A-1"].metrics == {"length": 1}


def test_changed_params_tampered_outputs_and_force_redo_work(tmp_path):
    run_phase(tmp_path, phase="A", title="t", study_digest="d", jobs=_jobs())
    changed = run_phase(tmp_path, phase="A", title="t", study_digest="d", jobs=_jobs(value=7))
    assert changed.jobs["A-1"].status == "completed" and changed.jobs["A-3"].status == "skipped"
    (tmp_path / changed.jobs["A-3"].outputs["value"].path).write_text("edited")
    tampered = run_phase(tmp_path, phase="A", title="t", study_digest="d", jobs=_jobs(value=7))
    assert tampered.jobs["A-3"].status == "completed"
    forced = run_phase(
        tmp_path, phase="A", title="t", study_digest="d", jobs=_jobs(value=7), force=True
    )
    assert forced.jobs["A-1"].status == "completed"


def test_changed_input_file_invalidates_downstream_job(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("x")
    job = [Job("B-1", f"{FNS}:write_value", {"value": 1}, inputs={"source": "src.txt"})]
    run_phase(tmp_path, phase="B", title="t", study_digest="d", jobs=job)
    assert (
        run_phase(tmp_path, phase="B", title="t", study_digest="d", jobs=job).jobs["B-1"].status
        == "skipped"
    )
    src.write_text("y")
    again = run_phase(tmp_path, phase="B", title="t", study_digest="d", jobs=job)
    assert again.jobs["B-1"].status == "completed"
    assert (tmp_path / again.jobs["B-1"].outputs["value"].path).read_text() == "1+y"


def test_upstream_failure_fails_dependants_without_running_them(tmp_path):
    jobs = [Job("C-1", f"{FNS}:write_value", {"value": 1}, requires=("A-2",))]
    manifest = run_phase(
        tmp_path, phase="C", title="t", study_digest="d", jobs=jobs, succeeded=set()
    )
    assert manifest.jobs["C-1"].status == "failed"
    assert "upstream job failed: A-2" in manifest.jobs["C-1"].error
    assert _calls(tmp_path) == []


def test_parallel_workers_run_in_separate_processes(tmp_path):
    jobs = [Job(f"P-{i}", f"{FNS}:write_value", {"value": i}) for i in range(4)]
    manifest = run_phase(tmp_path, phase="P", title="t", study_digest="d", jobs=jobs, workers=2)
    assert all(j.status == "completed" for j in manifest.jobs.values())
    assert list(manifest.jobs) == [f"P-{i}" for i in range(4)]
    pids = {line.split()[1] for line in _calls(tmp_path)}
    assert len(pids) >= 1 and str(__import__("os").getpid()) not in pids
    assert load_manifest(tmp_path, "P").counts()["completed"] == 4
