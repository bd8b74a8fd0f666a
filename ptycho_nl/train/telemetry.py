"""GPU telemetry (pynvml, package nvidia-ml-py) and a record of the software environment.

Without a GPU or pynvml the GPU fields are absent (never zero) and the run says so once.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any


class GpuTelemetry:
    """Samples `gpu_mem_mb` and `gpu_util_pct` of one CUDA device, or nothing.

    `unavailable_reason` is None when sampling works, else a one-line explanation.
    """

    def __init__(self, *, enabled: bool, device_index: int = 0):
        self.handle = None
        self.unavailable_reason: str | None = None
        if not enabled:
            self.unavailable_reason = "GPU telemetry not requested"
            return
        import torch

        if not torch.cuda.is_available():
            self.unavailable_reason = "no CUDA device: gpu_mem_mb and gpu_util_pct are omitted"
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self._pynvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        except Exception as exc:  # library missing, driver mismatch: report once, keep training
            self.unavailable_reason = f"pynvml unavailable ({exc}): GPU fields omitted"

    @property
    def available(self) -> bool:
        return self.handle is not None

    def sample(self) -> dict[str, float]:
        """{'gpu_mem_mb', 'gpu_util_pct'} when available, else {}."""
        if self.handle is None:
            return {}
        memory = self._pynvml.nvmlDeviceGetMemoryInfo(self.handle)
        rates = self._pynvml.nvmlDeviceGetUtilizationRates(self.handle)
        return {"gpu_mem_mb": round(memory.used / 2**20, 1), "gpu_util_pct": float(rates.gpu)}


def environment() -> dict[str, Any]:
    """Versions and hardware of this process, for metrics.json and the manifest."""
    import numpy
    import torch

    import ptycho_nl

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "ptycho_nl": ptycho_nl.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info
