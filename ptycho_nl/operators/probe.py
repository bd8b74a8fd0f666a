"""The probe factor and the probe product of the exit wave, with their adjoints.

    probe factor   P_b = S_{+f_b} P  ("probe" mode with sub-pixel parts), else P     (on the box)
    exit wave      psi_b = P_b * O_b               O_b = Q_b O (`patches.py`)
    adjoints       d psi / d O_b : conj(P_b) v_b    d psi / d P : sum_b S_{-f_b}(conj(O_b) v_b)
Incoherent probe modes: a probe (K, N, N) gives probe factors (B, K, h, w) and exit waves
(B, K, h, w) from the same (B, h, w) object factors; the object adjoint sums over the modes.
"""

from __future__ import annotations

import torch

from ptycho_nl.operators.fourier import FFT_DIMS
from ptycho_nl.operators.placement import ScanPlacement


def _per_position(ramps: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
    """Ramps (B, N, N) shaped to broadcast against a probe with (K,) modes or without."""
    return ramps[:, None] if probe.dim() == 3 else ramps


def probe_factor(
    scan: ScanPlacement, probe: torch.Tensor, idx: torch.Tensor, *, classes: bool = False
) -> torch.Tensor:
    """P_b on the box: (N, N) -> (B, h, w) ((K, N, N) -> (B, K, h, w)). An unshifted probe is
    an expanded view (no copy). classes=True: one factor per shift class instead (C, ...)."""
    if not scan.shifts_probe:
        box = scan.crop(probe)
        return box.expand(len(idx), *box.shape)
    ramps = scan.ramps if classes else scan.ramps_of(idx)
    spectrum = torch.fft.fft2(probe, dim=FFT_DIMS)
    shifted = torch.fft.ifft2(spectrum * _per_position(ramps, probe).conj(), dim=FFT_DIMS)
    return scan.crop(shifted)


def probe_factor_adjoint(
    scan: ScanPlacement, values: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """Adjoint of `probe_factor` summed over the batch: (B, [K,] h, w) -> ([K,] N, N). With
    shared shift classes the batch is summed per class first: one FFT per class present."""
    if not scan.shifts_probe:
        return scan.pad(values.sum(0))
    ramps = None
    if scan.classes_shared:
        # sum_b S_{-f_b} v_b = sum_c S_{-f_c} (sum_{b in c} v_b)
        summed = values.new_zeros(len(scan.ramps), *values.shape[1:])
        values = summed.index_add_(0, scan.shift_class.index_select(0, idx), values)
        ramps = scan.ramps
    ramps = scan.ramps_of(idx) if ramps is None else ramps
    spectrum = (
        torch.fft.fft2(scan.pad(values), dim=FFT_DIMS) * _per_position(ramps, values[0])
    ).sum(0)
    return torch.fft.ifft2(spectrum, dim=FFT_DIMS)


def exit_wave(probes: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """psi = P_b * O_b: probes (B or 1, [K,] h, w) or (h, w), patches (B, h, w)."""
    return probes * (patches.unsqueeze(-3) if probes.dim() == patches.dim() + 1 else patches)


def object_factor_adjoint(probes: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Adjoint of `exit_wave` in the object factor: conj(P_b) v_b, summed over modes (B, h, w)."""
    product = probes.conj() * values
    return product.sum(-3) if probes.dim() == 4 else product


def probe_gradient(
    scan: ScanPlacement, patches: torch.Tensor, residual: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """The probe box's gradient (h, w): the box of `probe_factor_adjoint(conj(O_b) r_b)`, with
    one fused reduction over the batch when the probe is not shifted. A probe confined to its
    box (a support constraint) needs nothing outside it."""
    if not scan.shifts_probe:
        return torch.linalg.vecdot(patches, residual, dim=0)
    return scan.crop(probe_factor_adjoint(scan, patches.conj() * residual, idx))
