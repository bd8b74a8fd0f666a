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

from ptycho_nl import operators
from ptycho_nl.operators import ScanPlacement, back_propagate, far_field, intensity
from ptycho_nl.recon.solver_cache import Batch, SolverCache

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


def _poisson_step_background(
    coherent: torch.Tensor, total: torch.Tensor, intensity_data: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """alpha_F (B,) when the model intensity is I = J + b (J = |Psi|^2, b the background).

    Along Psi (1 + a t): I(a) = J (1 + a t)^2 + b, so L'(0) = -2 sum J t^2 and
    L''(0) = 2 sum J t^2 (2 d J / I^2 - t); with b = 0 this is `_poisson_step`'s denominator.
    """
    t2 = t.square()
    num = (coherent * t2).sum(dim=(-2, -1))
    curvature = 2 * intensity_data * coherent / total.square() - t
    den = (t2 * coherent * curvature).sum(dim=(-2, -1))
    return (num / den.clamp_min(EPS)).clamp(0, 1)


def exit_wave_scale(
    coherent: torch.Tensor,
    data: torch.Tensor,
    amplitude: torch.Tensor,
    background: torch.Tensor | float,
    valid: torch.Tensor | None,
    noise_model: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The far-field factor alpha_F t of chi = F^-1[alpha_F t Psi] and the misfit (B, N, N).

    coherent : sum over modes of |Psi|^2   data : A^2   amplitude : A   (B, N, N) each
    poisson  : t = d / I - 1 with I = coherent + b (floored), alpha_F a Newton step, Eq. (17)
    gaussian : t = sqrt(max(d - b, 0)) / |Psi| - 1, alpha_F = 1: the amplitude (Gaussian)
               likelihood, whose exit-wave target is the modulus projection (pty-chi's default)
    """
    model = coherent + background  # the background is incoherent: it only adds intensity
    misfit = (model.sqrt() - amplitude).square()
    if noise_model == "gaussian":
        target = amplitude if not isinstance(background, torch.Tensor) else (
            (data - background).clamp_min(0).sqrt()
        )  # fmt: skip
        t = target / (coherent.sqrt() + EPS) - 1
        if valid is not None:
            t, misfit = t * valid, misfit * valid
        return t, misfit
    # t = d / I - 1 (Eq. 13), with a floor on I so dark pixels stay bounded; t = 0 when d = I.
    floor = FLOOR * model.mean(dim=(-2, -1), keepdim=True)
    t = (data - model) / (model + floor)
    if valid is not None:
        t, misfit = t * valid, misfit * valid  # excluded pixels: no gradient, no residual
    if isinstance(background, torch.Tensor):
        alpha_f = _poisson_step_background(coherent, model + floor, data, t)
    else:
        alpha_f = _poisson_step(model, data, t)  # (B,)
    return t * alpha_f[:, None, None], misfit


def lsqml_step(
    obj: torch.Tensor,
    probe: torch.Tensor,
    scan: ScanPlacement,
    batch: Batch,
    cache: SolverCache,
    *,
    beta: float,
    update_probe: bool,
    valid: torch.Tensor | None = None,
    background: torch.Tensor | float = 0.0,
    noise_model: str = "poisson",
    delta: float = DELTA,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Compute one LSQML update; the caller applies it (and calls `cache.probe_changed()`).

    obj : (H, W) complex64   probe : (N, N) complex64   batch : positions `idx` (B,) and their
        measured |Psi| (B, N, N) float32 in the unshifted FFT layout (`far_field(centred=False)`)
        (sqrt of counts up to the global scale)
    beta : damping of the least-squares steps (1 = full step)
    valid : (N, N) or (B, N, N) bool detector mask, unshifted layout (None = all pixels valid):
        excluded pixels get t = 0 (no likelihood gradient) and no residual
    background : b, () or (N, N) unshifted, in A^2 units: the model intensity is |Psi|^2 + b
    noise_model : "poisson" (the paper's) or "gaussian" (amplitude likelihood; `exit_wave_scale`)
    delta : the preconditioners' Tikhonov term relative to their peak, Eq. (25)
    Returns (object increment (H, W), residual (B,), probe increment (N, N) or None).
    """
    idx, amplitude = batch.idx, batch.amplitude
    patches = operators.object_patches(scan, obj, idx)  # (B, N, N)
    probes = cache.probe_factor(probe, idx)  # (B, N, N)
    farfield = far_field(operators.exit_wave(probes, patches), centred=False)
    coherent = intensity(farfield)
    data = amplitude.square()
    scale, misfit = exit_wave_scale(coherent, data, amplitude, background, valid, noise_model)
    residual = misfit.sum(dim=(-2, -1))
    chi = back_propagate(scale * farfield, centred=False)

    # Update directions with the preconditioners of Eq. (25).
    flat = cache.flat(batch)
    illum = operators.illumination(scan, cache.probe_intensity(probe, idx, probes), idx, flat=flat)
    obj_precond = 1 / (illum + (delta * float(illum.max()) + EPS))
    back = operators.object_factor_adjoint(probes, chi)  # conj(P_b) chi_b
    d_obj_dir = operators.object_adjoint(scan, back, idx, flat=flat) * obj_precond
    obj_term = operators.exit_wave(probes, operators.object_patches(scan, d_obj_dir, idx))

    if update_probe:
        o2 = intensity(patches).sum(0)
        grad_p = operators.probe_factor_adjoint(scan, patches.conj() * chi, idx)
        d_probe_dir = grad_p / (o2 + delta * o2.max() + EPS)
        probe_term = operators.exit_wave(operators.probe_factor(scan, d_probe_dir, idx), patches)
        # Per-position 2x2 normal equations of Eq. (22).
        a11 = intensity(obj_term).sum(dim=(-2, -1))
        a22 = intensity(probe_term).sum(dim=(-2, -1))
        a12 = (obj_term.conj() * probe_term).sum(dim=(-2, -1)).real
        b1 = (obj_term.conj() * chi).sum(dim=(-2, -1)).real
        b2 = (probe_term.conj() * chi).sum(dim=(-2, -1)).real
        det = a11 * a22 - a12.square()
        ok = det > EPS * (a11 * a22 + EPS)
        step_o = torch.where(ok, (a22 * b1 - a12 * b2) / (det + EPS), b1 / (a11 + EPS))
        step_p = torch.where(ok, (a11 * b2 - a12 * b1) / (det + EPS), torch.zeros_like(b2))
    else:
        step_o = (obj_term.conj() * chi).sum(dim=(-2, -1)).real
        step_o = step_o / (intensity(obj_term).sum(dim=(-2, -1)) + EPS)  # Eq. (23)
        step_p = None
    step_o = step_o.clamp(0, 1)
    # Eq. (24): each position contributes its own step-weighted update, averaged by illumination.
    weighted = operators.object_adjoint(
        scan, back * step_o[:, None, None].to(chi.dtype), idx, flat=flat
    )
    d_obj = weighted.mul_(obj_precond * beta)
    d_probe = None
    if update_probe:
        d_probe = d_probe_dir * (beta * float(step_p.clamp(0, 1).mean()))
    return d_obj, residual, d_probe
