"""GPU telemetry (pynvml, package nvidia-ml-py); the software environment is
`ptycho_nl.provenance.environment`.

Without a GPU or pynvml the GPU fields are absent (never zero) and the run says so once.
"""

from __future__ import annotations


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
