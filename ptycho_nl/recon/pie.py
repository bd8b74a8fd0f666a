"""One batched ePIE / rPIE update over a mini-batch of scan positions.

Axis legend: B positions in the mini-batch (`idx`), N probe side, H x W object.

References:
    ePIE  A. M. Maiden & J. M. Rodenburg, Ultramicroscopy 109, 1256 (2009), Eqs. (6)-(7).
    rPIE  A. Maiden, D. Johnson & P. Li, Optica 4, 736 (2017), Eq. (5) (regularised denominator
          (1 - alpha) |P|^2 + alpha max |P|^2; alpha = 1 gives ePIE's max |P|^2 normalisation).
The batched form sums the positions' updates with the adjoint of patch extraction and sums their
illuminations the same way, so overlapping positions in one batch share the denominator instead
of overshooting.

Speed: per step one forward and one inverse batched FFT; the modulus constraint is applied as
F^-1[A sgn(F psi)] - psi (no |Psi|); real-space work runs on the probe's support box only; the
batch's illumination preconditioner is memoised while the probe is (nearly) unchanged; ePIE's
scalar denominator lets the update be scattered straight into the object. Measured against
PtyLab by `benchmarks/bench_iterative.py` (figures: docs/performance.md).
"""

from __future__ import annotations

import torch

from ptycho_nl import operators
from ptycho_nl.operators import ScanPlacement, back_propagate, far_field
from ptycho_nl.recon.solver_cache import Batch, SolverCache

EPS = 1e-8


def _project(farfield: torch.Tensor, amplitude: torch.Tensor, valid: torch.Tensor | None):
    """A sgn(Psi) on valid pixels; excluded pixels (valid False) keep the model's Psi."""
    if valid is None:
        return farfield.sgn_().mul_(amplitude)
    return torch.where(valid, farfield.sgn().mul_(amplitude), farfield)


def exit_wave_update(
    psi: torch.Tensor,
    amplitude: torch.Tensor,
    *,
    padded: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Modulus constraint in real space: psi' - psi with psi' = F^-1[A sgn(F psi)].

    psi : (B, h, w) complex (not modified)   amplitude : (B, N, N) float (or complex with zero
        imaginary part: no type promotion), unshifted layout (`far_field(centred=False)`)
    padded : when h, w < N, the (B, N, N) frame whose top-left (h, w) block holds psi and whose
        rest is zero: the exit wave of a probe confined to a box. The modulus constraint commutes
        with shifts, so placing the box at the frame's corner changes nothing.
    Returns (psi' - psi on the box (B, h, w), a strided view when padded; squared amplitude
    residual sum (|Psi| - A)^2 per pattern (B,)).
    valid : (N, N) or (B, N, N) bool detector mask in the unshifted layout (None = all valid):
        excluded pixels keep the model's amplitude, so they add nothing to psi' - psi nor to the
        residual (specs/data_contracts.md §6). sgn is one fused kernel (faster than abs + divide), and the residual is
    ||psi' - psi||^2 over the whole frame by Parseval (F is unitary), so |Psi| is never formed.
    """
    if padded is None:
        farfield = far_field(psi, centred=False)
        dpsi = back_propagate(_project(farfield, amplitude, valid), centred=False).sub_(psi)
        return dpsi, _squared_norms(dpsi)
    h, w = psi.shape[-2:]
    new = back_propagate(
        _project(far_field(padded, centred=False), amplitude, valid), centred=False
    )
    # One contiguous pass over the frame gives psi' - psi everywhere (psi is zero outside the box)
    # and its norm (strided norms of the frame's rim are ~3x slower); the box is returned as a
    # view, which the caller's next product makes contiguous.
    new.sub_(padded)
    return new[:, :h, :w], _squared_norms(new)


def _squared_norms(x: torch.Tensor) -> torch.Tensor:
    """sum |x_b|^2 per leading index (B,) of a complex (B, ...) tensor, any strides."""
    return torch.linalg.vector_norm(
        torch.view_as_real(x), dim=tuple(range(1, x.dim() + 1))
    ).square()


def pie_step(
    obj: torch.Tensor,
    probe: torch.Tensor,
    scan: ScanPlacement,
    batch: Batch,
    cache: SolverCache,
    *,
    alpha: float,
    beta: float,
    probe_beta: float,
    tolerance: float = 0.0,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Apply one batched (r)PIE update to `obj` (and `probe` when probe_beta > 0) in place.

    obj : (H, W) complex64   probe : (N, N) complex64   batch : the positions `idx` (B,) and
        their measured |Psi| (B, N, N) float32 (or complex64) in the unshifted FFT layout
    cache : the solver loop's; the caller calls `cache.probe_changed()` after a probe update
    alpha : rPIE regulariser (1 = ePIE)   beta : object step   probe_beta : probe step (0 = fixed)
    tolerance : probe change below which the batch's illumination preconditioner is reused
        (`SolverCache.memoised`; 0 = recompute whenever the probe changed)
    valid : the batch's detector mask, (N, N) or (B, N, N) bool, unshifted layout (None = all)
    Both updates are computed from the pre-step object and probe. Returns the residual (B,).
    """
    idx = batch.idx
    patches = operators.object_patches(scan, obj, idx)  # (B, h, w) over the probe box, a copy
    probes = cache.probe_factor(probe, idx)  # (B, h, w), may be a view of `probe`
    if scan.boxed:
        frame = cache.frame(len(idx), patches.dtype, patches.device)
        psi = torch.mul(probes, patches, out=frame[:, : scan.h, : scan.w])
        dpsi, residual = exit_wave_update(psi, batch.amplitude, padded=frame, valid=valid)
    else:
        psi = operators.exit_wave(probes, patches)
        dpsi, residual = exit_wave_update(psi, batch.amplitude, valid=valid)
    d_probe = None
    if probe_beta > 0:
        o2 = torch.linalg.vecdot(patches, patches, dim=0).real  # sum_b |O_b|^2, one reduction
        denom_p = (1 - alpha) * o2 + (alpha * float(o2.max()) + EPS)
        grad = operators.probe_gradient(scan, patches, dpsi, idx)  # Eq. (7), batch summed
        d_probe = grad.mul_(probe_beta / denom_p)
    flat = cache.flat(batch)

    def summed_illumination() -> torch.Tensor:
        intensity = cache.probe_intensity(probe, idx, probes)
        return operators.illumination(scan, intensity, idx, flat=flat)

    # conj(P_b) (psi' - psi), Eq. (6) numerator; a broadcast (N, N) conjugate multiplies
    # faster than an expanded one.
    update = dpsi * (scan.crop(probe).conj() if probes.stride(0) == 0 else probes.conj())
    if alpha == 1:
        # ePIE's denominator is one number (memoised per batch while the probe is unchanged):
        # scatter the scaled update straight into the object.
        peak = cache.memoised(
            batch,
            "peak",
            lambda: float(summed_illumination().max()),
            probe=probe,
            tolerance=tolerance,
        )
        operators.object_adjoint(scan, update, idx, out=obj, alpha=beta / (peak + EPS), flat=flat)
    else:
        # Eq. (5) of Maiden 2017 with the batch's summed illumination in place of |P|^2.
        # Real reciprocal then a complex-by-real multiply: a complex in-place divide is slower.
        def rpie_weight() -> torch.Tensor:
            illum = summed_illumination()
            peak = alpha * float(illum.max()) + EPS
            return illum.mul_(1 - alpha).add_(peak).reciprocal_().mul_(beta)

        weight = cache.memoised(
            batch, ("rpie", alpha, beta), rpie_weight, probe=probe, tolerance=tolerance
        )
        obj.add_(operators.object_adjoint(scan, update, idx, flat=flat).mul_(weight))
    if d_probe is not None:
        scan.crop(probe).add_(d_probe)  # in place on the box
    return residual
