"""Compute records: CPU seconds of the process and its children, wall time, costs."""

import subprocess
import sys
import time

import pytest

from ptycho_nl.compute import ComputeRecord, billed_hours, cost_estimate, measure

# A child that burns exactly this much CPU time by its own clock before it exits.
BURN = "import time\nwhile time.process_time() < {s}: pass\n"


def test_cpu_seconds_count_waited_for_children_and_wall_time_is_elapsed():
    with measure() as meter:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", BURN.format(s=0.3)], check=True)
        elapsed = time.perf_counter() - t0
    rec = meter.record
    assert rec.cpu_s >= 0.3  # the child's 0.3 s (plus its start-up) are in the figure
    assert rec.wall_s >= elapsed and rec.wall_s >= 0.3
    assert rec.device == "cpu" and rec.gpu_s is None and rec.sessions == 1
    assert rec.started_utc <= rec.finished_utc


def test_the_record_is_taken_even_when_the_job_raises():
    with pytest.raises(RuntimeError), measure("cpu") as meter:
        raise RuntimeError("job failed")
    assert meter.record is not None and meter.record.wall_s >= 0


def test_attempt_id_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TOOLS_ATTEMPT", "STRUCT-001#4")
    with measure() as meter:
        pass
    assert meter.record.attempt == "STRUCT-001#4"


def _record(**kw):
    base = dict(
        wall_s=10.0,
        cpu_s=7200.0,
        device="cpu",
        started_utc="2026-01-01T00:00:00.000Z",
        finished_utc="2026-01-01T00:00:10.000Z",
    )
    return ComputeRecord(**{**base, **kw})


def test_costs_bill_gpu_hours_on_a_gpu_and_cpu_core_hours_on_a_cpu():
    rates = {"cpu": 0.05, "cuda": 2.0}
    assert cost_estimate(_record(), rates) == pytest.approx(2 * 0.05)
    gpu = _record(device="cuda", gpu_s=1800.0)
    assert billed_hours(gpu) == pytest.approx(0.5)
    assert cost_estimate(gpu, rates) == pytest.approx(1.0)
    assert cost_estimate(_record(device="mps"), rates) == 0.0  # no rate: not billed


def test_a_resumed_session_adds_to_the_earlier_one():
    first = _record(wall_s=4.0, cpu_s=3.0)
    second = _record(
        wall_s=6.0,
        cpu_s=5.0,
        started_utc="2026-01-02T00:00:00.000Z",
        finished_utc="2026-01-02T00:00:06.000Z",
    )
    total = second.plus(first)
    assert (total.wall_s, total.cpu_s, total.gpu_s, total.sessions) == (10.0, 8.0, None, 2)
    assert total.started_utc == first.started_utc and total.finished_utc == second.finished_utc


def test_on_a_gpu_the_record_waits_for_queued_kernels():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (the CPU half is tested above)")
    x = torch.randn(4096, 4096, device="cuda")
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with measure(torch.device("cuda", 0)) as meter:
        start.record()
        for _ in range(20):
            x = torch.tanh(x @ x)  # queued: returns before the GPU has finished
        end.record()
    kernels_s = start.elapsed_time(end) / 1000.0  # complete: the meter synchronised
    rec = meter.record
    assert rec.device == "cuda" and rec.device_name and rec.gpu_s == rec.wall_s
    assert rec.gpu_s >= kernels_s
