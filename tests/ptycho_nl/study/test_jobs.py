"""The phase runner: skip unchanged work, redo changed or tampered work, isolate failures."""

import json

import pytest
from study_jobfns import (
    EXPLODE,
    WAIT_THEN_LOG,
    WRITE_VALUE,
    NoParams,
    ValueParams,
    WaitParams,
)

from ptycho_nl.execution import make_executor
from ptycho_nl.study.jobs import (
    Job,
    Phase,
    critical_path_priorities,
    load_manifest,
    manifest_path,
    run_phase,
    run_phases,
)


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


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_runs_as_soon_as_its_own_requirements_are_done_not_its_whole_phase(tmp_path, workers):
    # A-slow and A-fast in phase A; B-next needs only A-fast. Across phases, B-next is
    # dispatched when A-fast is done: with two workers it ends before A-slow does.
    a, b = _phase("A"), _phase("B")
    phases = {
        a: [
            Job("A-slow", WAIT_THEN_LOG, WaitParams(seconds=1.5)),
            Job("A-fast", WAIT_THEN_LOG, WaitParams(seconds=0.0)),
        ],
        b: [
            Job("B-next", WAIT_THEN_LOG, WaitParams(seconds=0.0), requires=("A-fast",)),
            Job("B-after-failure", EXPLODE, NoParams(), requires=("B-next",)),
            Job("B-upstream", WRITE_VALUE, ValueParams(value=1), requires=("B-after-failure",)),
        ],
    }
    with make_executor(workers) as executor:
        manifests = run_phases(tmp_path, phases, study_digest="d", executor=executor)
    finished = (tmp_path / "finished.log").read_text().split()
    if workers == 2:
        assert finished.index("B-next") < finished.index("A-slow"), finished
    statuses = {k: r.status for m in manifests.values() for k, r in m.jobs.items()}
    assert statuses == {
        "A-slow": "completed",
        "A-fast": "completed",
        "B-next": "completed",
        "B-after-failure": "failed",
        "B-upstream": "failed",
    }
    assert "upstream job failed: B-after-failure" in manifests[b].jobs["B-upstream"].error
    # Each phase's manifest on disk holds its own jobs, in the caller's order.
    on_disk = load_manifest(tmp_path, "B")
    assert list(on_disk.jobs) == ["B-next", "B-after-failure", "B-upstream"]
    assert list(load_manifest(tmp_path, "A").jobs) == ["A-slow", "A-fast"]


def _critical_path_plan():
    # A-short and A-head are ready at once, A-short first in the plan; only A-head leads to
    # the long job B-long (estimated 100 s), so A-head's chain decides when the run ends.
    a, b = _phase("A"), _phase("B")
    return {
        a: [
            Job("A-short", WAIT_THEN_LOG, WaitParams(seconds=0.0)),
            Job("A-head", WAIT_THEN_LOG, WaitParams(seconds=0.0)),
        ],
        b: [Job("B-long", WAIT_THEN_LOG, WaitParams(seconds=0.0), requires=("A-head",), cost=100)],
    }


def test_priority_is_the_cost_from_a_job_to_the_end_of_the_run():
    phases = _critical_path_plan()
    jobs = [job for phase_jobs in phases.values() for job in phase_jobs]
    assert critical_path_priorities(jobs) == {"A-short": 1.0, "A-head": 101.0, "B-long": 100.0}
    # The order jobs come in does not matter.
    assert critical_path_priorities(jobs[::-1]) == critical_path_priorities(jobs)


def test_ready_jobs_start_longest_chain_first_not_in_plan_order(tmp_path):
    phases = _critical_path_plan()
    with make_executor(1) as executor:  # one job at a time: the order they end is their order
        run_phases(tmp_path, phases, study_digest="d", executor=executor)
    assert (tmp_path / "finished.log").read_text().split() == ["A-head", "B-long", "A-short"]
