"""Hybrid reconstruction: a network's stitched object warm-starts an iterative solver.

The network predicts every pattern's patch, the patches are phase-synchronised and stitched
(`recon/network.py`), and that object, scaled to the data's energy, is the iterative solver's
starting object. With zero refinement
passes the result is the network reconstruction itself (up to the global complex scalar that
metrics remove). Each stage's wall time is kept, and with a truth the quality trace runs across
both stages on one clock.

The solver starts from the network's amplitude and only the fine part of its phase
(`without_coarse_phase`): synchronising independently predicted patches leaves a phase error
that varies over many probe widths, which ePIE removes slowest of all. On R1 at 1e4 photons a
network start whose phase kept that error refined more slowly than a start from ones
(docs/performance.md, "The hybrid on R1"; finding NET-009). Then the data's per-pattern moments
put a coarse amplitude and phase back (`moments.correct_coarse`, where the scan and the dose
support it; finding NET-010).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ptycho_nl.data.types import PtychoData
from ptycho_nl.recon.iterative import reconstruct_iterative
from ptycho_nl.recon.moments import CoarseOutcome, correct_coarse
from ptycho_nl.recon.network import NetworkResult, PatchPredictor, reconstruct_from_bundle
from ptycho_nl.recon.options import IterativeOptions
from ptycho_nl.recon.quality_trace import QualityTrace
from ptycho_nl.simulate.probes import probe_diameter

# Gaussian sigma, in probe diameters, of the phase the solver's start leaves out. On R1 (1e4,
# probe diameter 28.6 px) the hybrid reached 1.05 x the best iterative NRMSE in 88%, 62% and
# 132% of the iterative time with 1, 2 and 4 diameters, and in 167% with the whole phase
# (NET-009); the demo's hybrids all improved with 2.
PHASE_HIGHPASS = 2.0
# Moment corrections of the start (`moments.correct_coarse`, which skips them where the scan or
# the dose cannot support them). On R1 at 1e4 one round after the 2-diameter high-pass took the
# hybrid from 73-75%/62-66% to 48-53%/43-55% of the iterative time (1.01x / 1.05x the best
# NRMSE, two runs); two rounds (50%/47-49%) were within that spread at one more forward pass
# (docs/performance.md, "Coarse phase from the data's moments").
MOMENT_ROUNDS = 1


@dataclass
class HybridResult:
    """object (H, W) complex64 and probe (N, N) after refinement; seconds per stage."""

    object: torch.Tensor
    probe: torch.Tensor
    coverage: torch.Tensor
    network_seconds: float
    refine_seconds: float
    errors: list[float] = field(default_factory=list)
    coarse: CoarseOutcome | None = None  # the start's moment corrections (None: not asked)

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


def without_coarse_phase(obj: torch.Tensor, sigma: float) -> torch.Tensor:
    """|O| exp(i (phi - phi_coarse)): `obj` (H, W) complex with the phase of its unit field
    smoothed by a Gaussian of `sigma` pixels taken out (no unwrapping needed). Pixels where
    obj is 0 (nothing scanned) stay 0; the amplitude is unchanged."""
    from scipy.ndimage import gaussian_filter

    values = obj.detach().cpu().numpy().astype(np.complex128)
    magnitude = np.abs(values)
    unit = np.divide(values, magnitude, out=np.zeros_like(values), where=magnitude > 0)
    coarse = gaussian_filter(unit.real, sigma) + 1j * gaussian_filter(unit.imag, sigma)
    size = np.abs(coarse)
    turn = np.divide(coarse.conj(), size, out=np.ones_like(coarse), where=size > 0)
    return torch.from_numpy((values * turn).astype(np.complex64)).to(obj.device)


def reconstruct_hybrid(
    bundle: PatchPredictor,
    data: PtychoData,
    *,
    refine: IterativeOptions | None,
    batch_size: int = 256,
    device: str = "cpu",
    trace: QualityTrace | None = None,
    progress: bool = False,
    phase_highpass: float = PHASE_HIGHPASS,
    moment_rounds: int = MOMENT_ROUNDS,
) -> HybridResult:
    """Network reconstruction, then `refine.iterations` passes of `refine.method` from it.

    refine : the solver's options, or None for no refinement (the network's object as is)
    trace  : scored on the network's object as is, on the solver's start when that differs
        (stage "start", at the end of the network stage's clock) and at the solver's checkpoints
    phase_highpass : the solver starts without the network phase's Gaussian low-pass of this
        many probe diameters (`without_coarse_phase`); 0: from the whole network object
    moment_rounds : then this many corrections of the start's coarse amplitude and phase from
        the data's per-pattern moments (`moments.correct_coarse`); 0: none
    """
    if phase_highpass < 0:
        raise ValueError(f"phase_highpass is in probe diameters >= 0, got {phase_highpass}")
    if moment_rounds < 0:
        raise ValueError(f"moment_rounds must be >= 0, got {moment_rounds}")
    start = time.perf_counter()
    network = reconstruct_from_bundle(bundle, data, batch_size=batch_size, device=device)
    initial = warm_start(network, data)
    network_done = time.perf_counter() - start
    probe = torch.as_tensor(np.asarray(data.probe)).to(torch.complex64)
    begin, coarse = initial, None
    if refine is not None and phase_highpass:
        sigma = phase_highpass * probe_diameter(probe.reshape(-1, *probe.shape[-2:])[0])
        begin = without_coarse_phase(initial, sigma)  # on the network stage's clock
    if refine is not None and moment_rounds:
        begin, coarse = correct_coarse(begin, data, moment_rounds)
    network_seconds = time.perf_counter() - start
    if trace is not None:
        trace.record(network_done, 0, initial, "network")
        if begin is not initial:  # the solver's own start, after the high-pass and the moments
            trace.record(network_seconds, 0, begin, "start")
        trace.offset += network_seconds
    if refine is None:
        return HybridResult(initial, probe, network.coverage, network_seconds, 0.0)
    result = reconstruct_iterative(
        data, options=refine, initial_object=begin, progress=progress, trace=trace
    )
    return HybridResult(
        result.object,
        result.probe,
        network.coverage,
        network_seconds,
        result.total_seconds,
        errors=result.errors,
        coarse=coarse,
    )
