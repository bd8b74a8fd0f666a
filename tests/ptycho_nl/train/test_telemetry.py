"""GPU telemetry: fields present with a GPU and pynvml, absent (with one reason) without.

The GPU itself is the boundary: on machines without one, CUDA and NVML are replaced by stand-ins
that answer like the real calls do.
"""

import sys
import types

import torch

from ptycho_nl.train.telemetry import GpuTelemetry


def test_without_a_gpu_fields_are_absent_and_the_reason_given(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    telemetry = GpuTelemetry(enabled=True)
    assert not telemetry.available and telemetry.sample() == {}
    assert "no CUDA device" in telemetry.unavailable_reason


def test_not_requested_samples_nothing():
    telemetry = GpuTelemetry(enabled=False)
    assert telemetry.sample() == {} and "not requested" in telemetry.unavailable_reason


def test_with_a_gpu_memory_and_utilisation_are_sampled(monkeypatch):
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=1536 * 2**20),
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    telemetry = GpuTelemetry(enabled=True, device_index=0)
    assert telemetry.available
    assert telemetry.sample() == {"gpu_mem_mb": 1536.0, "gpu_util_pct": 87.0}


def test_broken_nvml_is_reported_not_raised(monkeypatch):
    def fail():
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(nvmlInit=fail))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    telemetry = GpuTelemetry(enabled=True)
    assert telemetry.sample() == {} and "NVML Shared Library" in telemetry.unavailable_reason
