"""One batched ePIE / rPIE update over a mini-batch of scan positions.

Axis legend: B positions in the mini-batch (`idx`), N probe side, H x W object.

References:
    ePIE  A. M. Maiden & J. M. Rodenburg, Ultramicroscopy 109, 1256 (2009), Eqs. (6)-(7).
    rPIE  A. Maiden, D. Johnson & P. Li, Optica 4, 736 (2017), Eq. (5) (regularised denominator
          (1 - alpha) |P|^2 + alpha max |P|^2; alpha = 1 gives ePIE's max |P|^2 normalisation).
The batched form sums the positions' updates with the adjoint of patch extraction and sums their
illuminations the same way, so overlapping positions in one batch share the denominator instead
of overshooting.
"""

from __future__ import annotations

import torch

from ptycho_nl.recon.geometry import ScanGeometry

EPS = 1e-8
FFT_DIMS = (-2, -1)


def unshifted_far_field(psi: torch.Tensor) -> torch.Tensor:
    """`physics.far_field` without its fftshift: the modulus constraint is pointwise, so the
    solvers compare with measured amplitudes ifftshift-ed once up front and skip two full copies
    per step. psi : (B, N, N) complex -> (B, N, N) complex, zero frequency at [0, 0]."""
    return torch.fft.fft2(psi, dim=FFT_DIMS, norm="ortho")


def unshifted_back_propagate(farfield: torch.Tensor) -> torch.Tensor:
    """Inverse (and adjoint) of `unshifted_far_field`."""
    return torch.fft.ifft2(farfield, dim=FFT_DIMS, norm="ortho")


def modulus_constraint(
    farfield: torch.Tensor, amplitude: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace |Psi| by the measured amplitude, keep the phase.

    farfield : (B, N, N) complex   amplitude : (B, N, N) float
    Returns (Psi' - Psi (B, N, N) complex, squared amplitude residual summed per pattern (B,)).
    """
    modulus = farfield.abs()
    residual = (modulus - amplitude).square().sum(dim=(-2, -1))
    # Psi' - Psi = Psi (A / |Psi| - 1): one complex multiply instead of two.
    factor = amplitude / (modulus + EPS) - 1
    return farfield * factor, residual


def illumination(geom: ScanGeometry, probes: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """sum_b |P_b|^2 placed at the integer patch corners: (H, W) float32 (a preconditioner, so
    the sub-pixel part is not needed here)."""
    canvas = torch.zeros(geom.shape, dtype=torch.float32, device=probes.device)
    return geom.add(canvas, probes.abs().square(), idx)


def pie_step(
    obj: torch.Tensor,
    probe: torch.Tensor,
    geom: ScanGeometry,
    idx: torch.Tensor,
    amplitude: torch.Tensor,
    *,
    alpha: float,
    beta: float,
    probe_beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Compute one batched (r)PIE update; the caller applies it.

    obj : (H, W) complex64   probe : (N, N) complex64   idx : (B,) positions of this batch
    amplitude : (B, N, N) float32 measured |Psi| in the unshifted FFT layout (see
        `unshifted_far_field`)
    alpha : rPIE regulariser (1 = ePIE)   beta : object step   probe_beta : probe step (0 = fixed)
    Returns (object increment (H, W), residual (B,), probe increment (N, N) or None).
    """
    patches = geom.object_patches(obj, idx)  # (B, N, N)
    probes = geom.probes(probe, idx)  # (B, N, N)
    d_far, residual = modulus_constraint(unshifted_far_field(probes * patches), amplitude)
    dpsi = unshifted_back_propagate(d_far)  # psi' - psi (the propagator is linear)
    num = geom.object_adjoint(probes.conj() * dpsi, idx)
    illum = illumination(geom, probes, idx)
    # Eq. (5) of Maiden 2017 with the batch's summed illumination in place of |P|^2.
    denom = (1 - alpha) * illum + (alpha * float(illum.max()) + EPS)
    d_obj = num.mul_(beta / denom)
    d_probe = None
    if probe_beta > 0:
        o2 = patches.abs().square().sum(0)
        denom_p = (1 - alpha) * o2 + (alpha * float(o2.max()) + EPS)
        grad = geom.probe_adjoint(patches.conj() * dpsi, idx)  # Eq. (7), summed over the batch
        d_probe = grad * (probe_beta / denom_p)
    return d_obj, residual, d_probe
