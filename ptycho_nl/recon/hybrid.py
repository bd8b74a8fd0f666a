"""Hybrid reconstruction: a network's stitched object warm-starts an iterative solver.

The network predicts every pattern's patch, the patches are phase-synchronised and stitched
(`recon/network.py`), and that object, scaled to the data's energy, is the iterative solver's
starting object. With zero refinement
passes the result is the network reconstruction itself (up to the global complex scalar that
metrics remove). Each stage's wall time is kept, and with a truth the quality trace runs across
both stages on one clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ptycho_nl.data.types import PtychoData
from ptycho_nl.recon.iterative import reconstruct_iterative
from ptycho_nl.recon.network import NetworkResult, PatchPredictor, reconstruct_from_bundle
from ptycho_nl.recon.options import IterativeOptions
from ptycho_nl.recon.quality_trace import QualityTrace


@dataclass
class HybridResult:
    """object (H, W) complex64 and probe (N, N) after refinement; seconds per stage."""

    object: torch.Tensor
    probe: torch.Tensor
    coverage: torch.Tensor
    network_seconds: float
    refine_seconds: float
    errors: list[float] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return self.network_seconds + self.refine_seconds


def warm_start(network: NetworkResult, data: PtychoData) -> torch.Tensor:
    """The starting object: the stitched network object scaled so that the forward model's
    energy matches the data's (sum_b sum |P Q_b O|^2 = sum A^2, by Parseval). Nothing else is
    changed (unscanned pixels stay zero: no probe reaches them), so a hybrid without refinement
    is the network reconstruction up to a real scalar."""
    obj = network.object.to(torch.complex64)
    coverage = network.coverage.to(torch.float32)
    if float(coverage.max()) <= 0:
        raise ValueError("the network reconstruction covers no pixel of the object")
    measured = float(np.square(np.asarray(data.diffraction, dtype=np.float64)).sum())
    modelled = float((coverage * obj.abs().square()).sum())
    return obj * ((measured / modelled) ** 0.5 if modelled > 0 else 1.0)


def reconstruct_hybrid(
    bundle: PatchPredictor,
    data: PtychoData,
    *,
    refine: IterativeOptions | None,
    batch_size: int = 256,
    device: str = "cpu",
    trace: QualityTrace | None = None,
    progress: bool = False,
) -> HybridResult:
    """Network reconstruction, then `refine.iterations` passes of `refine.method` from it.

    refine : the solver's options, or None for no refinement (the network's object as is)
    trace  : scored once after the network stage and at the solver's checkpoints
    """
    start = time.perf_counter()
    network = reconstruct_from_bundle(bundle, data, batch_size=batch_size, device=device)
    initial = warm_start(network, data)
    network_seconds = time.perf_counter() - start
    if trace is not None:
        trace.record(network_seconds, 0, initial, "network")
        trace.offset += network_seconds
    probe = torch.as_tensor(np.asarray(data.probe)).to(torch.complex64)
    if refine is None:
        return HybridResult(initial, probe, network.coverage, network_seconds, 0.0)
    result = reconstruct_iterative(
        data, options=refine, initial_object=initial, progress=progress, trace=trace
    )
    return HybridResult(
        result.object,
        result.probe,
        network.coverage,
        network_seconds,
        result.total_seconds,
        errors=result.errors,
    )
