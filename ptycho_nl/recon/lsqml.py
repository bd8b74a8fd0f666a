"""One batched LSQML update (maximum likelihood for Poisson data) over a mini-batch.

Axis legend: B positions in the mini-batch, N probe side, H x W object.

Reference: M. Odstrcil, A. Menzel & M. Guizar-Sicairos, "Iterative least-squares solver for
generalized maximum-likelihood ptychography", Opt. Express 26, 3108 (2018).
    exit-wave update  chi = F^-1[ alpha_F (d / |Psi|^2 - 1) Psi ]           Eqs. (13), (17)
    update directions dO = sum conj(P) chi / (sum |P|^2 + delta),
                      dP = sum conj(O_b) chi / (sum |O_b|^2 + delta)        Eqs. (24), (25)
    step lengths      per position, least squares min || chi - a_O P dO_b - a_P dP O_b ||^2
                                                                          Eqs. (22), (23)
The data enter as d = A^2 in stored-amplitude units: t = d / I - 1 and the Newton step are
invariant to the global photon scale s, so the maximum-likelihood update needs no s. Deviations
from the paper: a floor of 1% of the pattern's mean on I keeps d / I bounded where the model is
dark, and the per-position probe steps are averaged into one probe step.
"""

from __future__ import annotations

import torch

from ptycho_nl import physics
from ptycho_nl.recon.geometry import ScanGeometry
from ptycho_nl.recon.pie import illumination, unshifted_back_propagate, unshifted_far_field

EPS = 1e-8
FLOOR = 1e-2  # relative floor on the modelled intensity
DELTA = 0.1  # relative Tikhonov term in the preconditioners, Eq. (25)


def _poisson_step(
    intensity_model: torch.Tensor, intensity_data: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """Per-pattern step alpha_F (B,) of the Poisson likelihood along chi: one Newton step, Eq. (17).

    Along Psi (1 + a t), t = d/I - 1, the likelihood L(a) = sum I g^2 - d log(I g^2), g = 1 + a t;
    L'(0) = -2 sum I t^2 and L''(0) = 2 sum t^2 (I + d), so a = sum I t^2 / sum t^2 (I + d).
    """
    t2 = t.square()
    num = (intensity_model * t2).sum(dim=(-2, -1))
    den = (t2 * (intensity_model + intensity_data)).sum(dim=(-2, -1))
    return (num / (den + EPS)).clamp(0, 1)


def lsqml_step(
    obj: torch.Tensor,
    probe: torch.Tensor,
    geom: ScanGeometry,
    idx: torch.Tensor,
    amplitude: torch.Tensor,
    *,
    beta: float,
    update_probe: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Compute one LSQML update; the caller applies it.

    obj : (H, W) complex64   probe : (N, N) complex64   idx : (B,) positions of this batch
    amplitude : (B, N, N) float32 measured |Psi| in the unshifted FFT layout (see
        `unshifted_far_field`) (sqrt of counts up to the global scale)
    beta : damping of the least-squares steps (1 = full step)
    Returns (object increment (H, W), residual (B,), probe increment (N, N) or None).
    """
    patches = geom.object_patches(obj, idx)  # (B, N, N)
    probes = geom.probes(probe, idx)  # (B, N, N)
    farfield = unshifted_far_field(probes * patches)
    model = physics.intensity(farfield)
    data = amplitude.square()
    residual = (model.sqrt() - amplitude).square().sum(dim=(-2, -1))
    # t = d / I - 1 (Eq. 13), with a floor on I so dark pixels stay bounded; t = 0 when d = I.
    floor = FLOOR * model.mean(dim=(-2, -1), keepdim=True)
    t = (data - model) / (model + floor)
    alpha_f = _poisson_step(model, data, t)  # (B,)
    chi = unshifted_back_propagate(t * farfield) * alpha_f[:, None, None].to(farfield.dtype)

    # Update directions with the preconditioners of Eq. (25).
    illum = illumination(geom, probes, idx, geom.probe_intensity(probe, idx, probes))
    obj_precond = 1 / (illum + (DELTA * float(illum.max()) + EPS))
    d_obj_dir = geom.object_adjoint(probes.conj() * chi, idx) * obj_precond
    obj_term = probes * geom.object_patches(d_obj_dir, idx)  # P dO_b, (B, N, N)

    if update_probe:
        o2 = physics.intensity(patches).sum(0)
        grad_p = geom.probe_adjoint(patches.conj() * chi, idx)
        d_probe_dir = grad_p / (o2 + DELTA * o2.max() + EPS)
        probe_term = geom.shift_like_probe(d_probe_dir, idx) * patches  # dP O_b
        # Per-position 2x2 normal equations of Eq. (22).
        a11 = physics.intensity(obj_term).sum(dim=(-2, -1))
        a22 = physics.intensity(probe_term).sum(dim=(-2, -1))
        a12 = (obj_term.conj() * probe_term).sum(dim=(-2, -1)).real
        b1 = (obj_term.conj() * chi).sum(dim=(-2, -1)).real
        b2 = (probe_term.conj() * chi).sum(dim=(-2, -1)).real
        det = a11 * a22 - a12.square()
        ok = det > EPS * (a11 * a22 + EPS)
        step_o = torch.where(ok, (a22 * b1 - a12 * b2) / (det + EPS), b1 / (a11 + EPS))
        step_p = torch.where(ok, (a11 * b2 - a12 * b1) / (det + EPS), torch.zeros_like(b2))
    else:
        step_o = (obj_term.conj() * chi).sum(dim=(-2, -1)).real
        step_o = step_o / (physics.intensity(obj_term).sum(dim=(-2, -1)) + EPS)  # Eq. (23)
        step_p = None
    step_o = step_o.clamp(0, 1)
    # Eq. (24): each position contributes its own step-weighted update, averaged by illumination.
    weighted = geom.object_adjoint(probes.conj() * chi * step_o[:, None, None].to(chi.dtype), idx)
    d_obj = weighted.mul_(obj_precond * beta)
    d_probe = None
    if update_probe:
        d_probe = d_probe_dir * (beta * float(step_p.clamp(0, 1).mean()))
    return d_obj, residual, d_probe
