"""The phase runner: skip unchanged work, redo changed or tampered work, isolate failures."""

import json

import pytest
from study_jobfns import EXPLODE, WRITE_VALUE, NoParams, ValueParams

from ptycho_nl.study.jobs import Job, Phase, load_manifest, manifest_path, run_phase


def _phase(key):
    return Phase(key, "t", f"phase_{key}")


def _calls(study):
    path = study / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def _jobs(value=1):
    return [
        Job("A-1", WRITE_VALUE, ValueParams(value=value)),
        Job("A-2", EXPLODE, NoParams()),
        Job("A-3", WRITE_VALUE, ValueParams(value=3)),
    ]


def test_failures_are_isolated_and_recorded(tmp_path):
    manifest = run_phase(tmp_path, phase=_phase("A"), study_digest="d", jobs=_jobs())
    statuses = {k: v.status for k, v in manifest.jobs.items()}
    assert statuses == {"A-1": "completed", "A-2": "failed", "A-3": "completed"}
    assert manifest.jobs["A-2"].error == "KeyError: 'diffraction'"
    on_disk = json.loads(manifest_path(tmp_path, "A").read_text())
    assert (
        on_disk["jobs"]["A-1"]["outputs"]["value"]["sha256"]
        == manifest.jobs["A-1"].outputs["value"].sha256
    )
    assert manifest.counts() == {"completed": 2, "failed": 1, "skipped": 0}
    # The manifest names each job's kind and its typed parameters; outputs sit in the phase's
    # own directory.
    assert on_disk["jobs"]["A-1"]["kind"] == "write_value"
    assert on_disk["jobs"]["A-1"]["params"] == {"value": 1}
    assert manifest.jobs["A-1"].outputs["value"].path == "phase_A/A-1/value.txt"


def test_rerun_skips_completed_jobs_and_retries_failed_ones(tmp_path):
    run_phase(tmp_path, phase=_phase("A"), study_digest="d", jobs=_jobs())
    assert len(_calls(tmp_path)) == 2
    second = run_phase(tmp_path, phase=_phase("A"), study_digest="d", jobs=_jobs())
    assert {k: v.status for k, v in second.jobs.items()} == {
        "A-1": "skipped",
        "A-2": "failed",
        "A-3": "skipped",
    }
    assert len(_calls(tmp_path)) == 2  # nothing re-ran
    assert second.jobs["A-1"].metrics == {"length": 1}


def test_changed_params_tampered_outputs_and_force_redo_work(tmp_path):
    run_phase(tmp_path, phase=_phase("A"), study_digest="d", jobs=_jobs())
    changed = run_phase(tmp_path, phase=_phase("A"), study_digest="d", jobs=_jobs(value=7))
    assert changed.jobs["A-1"].status == "completed" and changed.jobs["A-3"].status == "skipped"
    (tmp_path / changed.jobs["A-3"].outputs["value"].path).write_text("edited")
    tampered = run_phase(tmp_path, phase=_phase("A"), study_digest="d", jobs=_jobs(value=7))
    assert tampered.jobs["A-3"].status == "completed"
    forced = run_phase(
        tmp_path, phase=_phase("A"), study_digest="d", jobs=_jobs(value=7), force=True
    )
    assert forced.jobs["A-1"].status == "completed"


def test_changed_input_file_invalidates_downstream_job(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("x")
    job = [Job("B-1", WRITE_VALUE, ValueParams(value=1), inputs={"source": "src.txt"})]
    run_phase(tmp_path, phase=_phase("B"), study_digest="d", jobs=job)
    assert (
        run_phase(tmp_path, phase=_phase("B"), study_digest="d", jobs=job).jobs["B-1"].status
        == "skipped"
    )
    src.write_text("y")
    again = run_phase(tmp_path, phase=_phase("B"), study_digest="d", jobs=job)
    assert again.jobs["B-1"].status == "completed"
    assert (tmp_path / again.jobs["B-1"].outputs["value"].path).read_text() == "1+y"


def test_upstream_failure_fails_dependants_without_running_them(tmp_path):
    jobs = [Job("C-1", WRITE_VALUE, ValueParams(value=1), requires=("A-2",))]
    manifest = run_phase(tmp_path, phase=_phase("C"), study_digest="d", jobs=jobs, succeeded=set())
    assert manifest.jobs["C-1"].status == "failed"
    assert "upstream job failed: A-2" in manifest.jobs["C-1"].error
    assert _calls(tmp_path) == []


def test_parallel_workers_run_in_separate_processes(tmp_path):
    jobs = [Job(f"P-{i}", WRITE_VALUE, ValueParams(value=i)) for i in range(4)]
    manifest = run_phase(tmp_path, phase=_phase("P"), study_digest="d", jobs=jobs, workers=2)
    assert all(j.status == "completed" for j in manifest.jobs.values())
    assert list(manifest.jobs) == [f"P-{i}" for i in range(4)]
    pids = {line.split()[1] for line in _calls(tmp_path)}
    assert len(pids) >= 1 and str(__import__("os").getpid()) not in pids
    assert load_manifest(tmp_path, "P").counts()["completed"] == 4


def test_a_job_with_parameters_of_another_kind_is_refused():
    with pytest.raises(TypeError, match="kind 'write_value' takes ValueParams, got NoParams"):
        Job("A-1", WRITE_VALUE, NoParams())
