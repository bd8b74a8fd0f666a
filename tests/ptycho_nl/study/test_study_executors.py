"""The study on each executor: a tiny grid on a Dask LocalCluster writes the same manifests as
the local process pool, apart from timings; an executor that cannot start is one line."""

import json
import socket

import pytest
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.study.design import StudyDesign, ViewSpec
from ptycho_nl.study.dose_overlap import run_study

runner = CliRunner()

# Two cells, one solver: two jobs in each phase C, D, F and G, and nothing to train.
GRID = StudyDesign(
    name="grid",
    doses=[1e3, 1e5],
    views=[ViewSpec(name="dense", overlap=0.7)],
    iterative=["epie"],
    object_size=96,
    patch_size=32,
    iterations=4,
    tiles_per_side=3,
)
TIMINGS = {"started_at", "finished_at", "duration_s", "compute", "updated_at"}
TIMED_METRICS = {"seconds_per_iteration", "inference_seconds"}


def _untimed(value, study_dir):
    """A JSON record without its time stamps (and the hash over them), with the study
    directory's own path made relative."""
    if isinstance(value, dict):
        return {
            k: _untimed(v, study_dir)
            for k, v in value.items()
            if not k.endswith(("_utc", "_at")) and k != "record_sha256"
        }
    if isinstance(value, list):
        return [_untimed(v, study_dir) for v in value]
    return value.replace(str(study_dir), "<study>") if isinstance(value, str) else value


def _manifests(study_dir):
    """Every phase manifest, without what depends on when and how fast the jobs ran. An
    output that is a JSON record (a QC record) is compared by its untimed content, every
    other output by its SHA-256."""
    out = {}
    for path in sorted((study_dir / "manifests").glob("phase_*.json")):
        data = json.loads(path.read_text())
        data.pop("updated_at")
        for job in data["jobs"].values():
            for key in TIMINGS:
                job.pop(key, None)
            for key in TIMED_METRICS:
                job["metrics"].pop(key, None)
            for ref in job["outputs"].values():
                if ref["path"].endswith(".json"):
                    record = json.loads((study_dir / ref["path"]).read_text())
                    ref.update(sha256=_untimed(record, study_dir), size_bytes=None)
        out[path.name] = data
    return out


def _compute(study_dir):
    return [
        job["compute"]
        for path in (study_dir / "manifests").glob("phase_*.json")
        for job in json.loads(path.read_text())["jobs"].values()
    ]


@pytest.mark.slow
def test_dask_local_cluster_writes_the_local_pools_manifests(tmp_path):
    pytest.importorskip("distributed")
    pool = run_study(GRID, tmp_path / "pool", workers=2)
    dask = run_study(GRID, tmp_path / "dask", dask_local=2)
    assert pool.failed_jobs == dask.failed_jobs == 0
    assert _manifests(tmp_path / "pool") == _manifests(tmp_path / "dask")
    for study in ("pool", "dask"):
        records = _compute(tmp_path / study)
        assert len(records) == 8 and all(r["device"] == "cpu" for r in records)
        assert all(r["cpu_s"] > 0 and r["wall_s"] > 0 for r in records)


def test_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path):
    pytest.importorskip("distributed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "study"
    args = ["study", "run", "--preset", "demo", "--out", str(out)]
    result = runner.invoke(
        app, [*args, "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "1"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"tcp://127.0.0.1:{port}" in lines[0], result.output
    assert "Traceback" not in result.output and not out.exists()
