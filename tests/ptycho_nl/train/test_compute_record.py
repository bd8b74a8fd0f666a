"""The training manifest's compute block: what the job cost, summed over resumed sessions."""

import json
from datetime import datetime

from ptycho_nl.train.loop import train
from ptycho_nl.train.manifest import read_manifest


def _seconds(a: str, b: str) -> float:
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds()


def test_a_completed_run_records_its_compute(tiny_npz, tiny_config, tmp_path):
    result = train(tiny_config(epochs=2), tiny_npz, tmp_path / "run", progress=False)
    assert result.status == "completed"
    on_disk = json.loads((tmp_path / "run" / "manifest.json").read_text())
    compute = on_disk["compute"]
    assert compute == result.manifest["compute"]
    assert compute["device"] == "cpu" and compute["gpu_s"] is None and compute["sessions"] == 1
    # The job's wall time holds its epochs (from metrics.json) and sits inside the manifest's
    # own start and finish stamps (millisecond resolution).
    epochs = json.loads((tmp_path / "run" / "logs" / "metrics.json").read_text())["epochs"]
    assert compute["wall_s"] >= sum(e["duration_s"] for e in epochs)
    assert compute["wall_s"] >= _seconds(on_disk["started_utc"], on_disk["finished_utc"]) - 0.002
    assert compute["cpu_s"] > 0


def test_a_resumed_run_adds_both_sessions_and_a_skip_keeps_them(tiny_npz, tiny_config, tmp_path):
    cfg, run = tiny_config(epochs=2), tmp_path / "run"
    first = train(cfg, tiny_npz, run, progress=False, stop_after_epoch=1)
    assert first.status == "stopped_budget"
    one = read_manifest(run).compute
    second = train(cfg, tiny_npz, run, progress=False, resume=True)
    both = read_manifest(run).compute
    assert second.status == "completed" and both.sessions == 2
    assert both.wall_s > one.wall_s and both.cpu_s > one.cpu_s
    assert both.started_utc == one.started_utc
    skipped = train(cfg, tiny_npz, run, progress=False)
    assert skipped.status == "skipped" and read_manifest(run).compute == both


def test_a_failed_run_records_its_compute(missing_key_npz, tiny_config, tmp_path):
    result = train(tiny_config(), missing_key_npz, tmp_path / "bad", progress=False)
    assert result.status == "failed"
    assert read_manifest(tmp_path / "bad").compute.wall_s >= 0
