"""(r)PIE and LSQML steps with K incoherent probe modes, returning what position correction needs.

Axis legend: B positions in the mini-batch, K probe modes, N frame side, H x W object.

The general path of `iterative.py`, used when the probe has modes (K > 1) or the positions are
refined: the whole N x N frame (no probe box), no memoised preconditioners (the positions may
move every pass). With K = 1 the updates are those of `pie.py` and `lsqml.py`.
    intensity          I_b = sum_k |F(P_bk O_b)|^2 (+ b)
    mixed modulus      Psi'_bk = Psi_bk A_b / sqrt(sum_k |Psi_bk|^2)   (Thibault & Menzel 2013)
    object update      sum_k conj(P_bk) chi_bk over sum_k |P_bk|^2       (modes share the object)
    probe update       per mode: sum_b conj(O_b) chi_bk over sum_b |O_b|^2
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ptycho_nl import operators
from ptycho_nl.operators import ScanPlacement, back_propagate, far_field
from ptycho_nl.recon.lsqml import DELTA, exit_wave_scale
from ptycho_nl.recon.solver_cache import Batch, SolverCache

EPS = 1e-8


class StepResult(NamedTuple):
    """residual (B,) sum (sqrt(I) - A)^2; the pre-step object frames (B, N, N), probe factors
    (B, K, N, N) and the exit-wave update (B, K, N, N): the inputs of `positions.shift_estimate`."""

    residual: torch.Tensor
    patches: torch.Tensor
    probes: torch.Tensor
    chi: torch.Tensor


def _forward(obj, probe, scan, batch, cache):
    idx = batch.idx
    patches = operators.object_patches(scan, obj, idx)  # (B, N, N)
    probes = cache.probe_factor(probe, idx)  # (B, K, N, N)
    psi = operators.exit_wave(probes, patches)  # (B, K, N, N)
    return patches, probes, psi, far_field(psi, centred=False)


def mixed_pie_step(
    obj: torch.Tensor,
    probe: torch.Tensor,
    scan: ScanPlacement,
    batch: Batch,
    cache: SolverCache,
    *,
    alpha: float,
    beta: float,
    probe_beta: float,
    valid: torch.Tensor | None = None,
) -> StepResult:
    """One batched (r)PIE update of `obj` and the modes `probe` (K, N, N) in place (the probe
    when probe_beta > 0; the caller calls `cache.probe_changed()`). alpha 1 = ePIE."""
    idx = batch.idx
    patches, probes, psi, farfield = _forward(obj, probe, scan, batch, cache)
    amplitude = batch.amplitude.real if batch.amplitude.is_complex() else batch.amplitude
    modelled = farfield.abs().square().sum(1).sqrt()  # (B, N, N)
    ratio = amplitude / (modelled + EPS)
    misfit = (modelled - amplitude).square()
    if valid is not None:
        ratio = torch.where(valid, ratio, torch.ones_like(ratio))  # excluded: keep the model
        misfit = misfit * valid
    new = back_propagate(farfield * ratio[:, None].to(farfield.dtype), centred=False)
    chi = new.sub_(psi)  # psi' - psi (B, K, N, N)
    d_probe = None
    if probe_beta > 0:
        o2 = patches.abs().square().sum(0)
        denom = (1 - alpha) * o2 + (alpha * float(o2.max()) + EPS)
        grad = operators.probe_factor_adjoint(scan, patches.conj()[:, None] * chi, idx)
        d_probe = grad * (probe_beta / denom)
    illum = operators.illumination(scan, probes.abs().square().sum(1), idx)
    update = operators.object_adjoint(scan, operators.object_factor_adjoint(probes, chi), idx)
    if alpha == 1:
        obj.add_(update, alpha=beta / (float(illum.max()) + EPS))
    else:
        weight = beta / ((1 - alpha) * illum + (alpha * float(illum.max()) + EPS))
        obj.add_(update * weight)
    if d_probe is not None:
        probe.add_(d_probe)
    return StepResult(misfit.sum(dim=(-2, -1)), patches, probes, chi)


def _step_lengths(obj_term, probe_term, chi, update_probe):
    """Per-position least-squares steps of Eqs. (22)-(23), summed over modes: (B,), (B,)|None."""
    dims = (-3, -2, -1)
    a11 = obj_term.abs().square().sum(dims)
    b1 = (obj_term.conj() * chi).real.sum(dims)
    if not update_probe:
        return b1 / (a11 + EPS), None
    a22 = probe_term.abs().square().sum(dims)
    a12 = (obj_term.conj() * probe_term).real.sum(dims)
    b2 = (probe_term.conj() * chi).real.sum(dims)
    det = a11 * a22 - a12.square()
    ok = det > EPS * (a11 * a22 + EPS)
    step_o = torch.where(ok, (a22 * b1 - a12 * b2) / (det + EPS), b1 / (a11 + EPS))
    step_p = torch.where(ok, (a11 * b2 - a12 * b1) / (det + EPS), torch.zeros_like(b2))
    return step_o, step_p


def mixed_lsqml_step(
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
) -> tuple[torch.Tensor, torch.Tensor | None, StepResult]:
    """One LSQML update with modes (`lsqml.lsqml_step`'s, intensity summed over the modes).
    Returns (object increment (H, W), probe increment (K, N, N) or None, StepResult)."""
    idx = batch.idx
    patches, probes, _, farfield = _forward(obj, probe, scan, batch, cache)
    coherent = farfield.abs().square().sum(1)  # (B, N, N)
    amplitude = batch.amplitude
    scale, misfit = exit_wave_scale(
        coherent, amplitude.square(), amplitude, background, valid, noise_model
    )
    chi = back_propagate(farfield * scale[:, None], centred=False)  # (B, K, N, N)

    illum = operators.illumination(scan, probes.abs().square().sum(1), idx)
    obj_precond = 1 / (illum + (delta * float(illum.max()) + EPS))
    back = operators.object_factor_adjoint(probes, chi)  # (B, N, N)
    d_obj_dir = operators.object_adjoint(scan, back, idx) * obj_precond
    obj_term = operators.exit_wave(probes, operators.object_patches(scan, d_obj_dir, idx))
    probe_term = d_probe_dir = None
    if update_probe:
        o2 = patches.abs().square().sum(0)
        grad = operators.probe_factor_adjoint(scan, patches.conj()[:, None] * chi, idx)
        d_probe_dir = grad / (o2 + delta * o2.max() + EPS)
        probe_term = operators.exit_wave(operators.probe_factor(scan, d_probe_dir, idx), patches)
    step_o, step_p = _step_lengths(obj_term, probe_term, chi, update_probe)
    weighted = operators.object_adjoint(
        scan, back * step_o.clamp(0, 1)[:, None, None].to(chi.dtype), idx
    )
    d_obj = weighted.mul_(obj_precond * beta)
    d_probe = None
    if update_probe:
        d_probe = d_probe_dir * (beta * float(step_p.clamp(0, 1).mean()))
    return d_obj, d_probe, StepResult(misfit.sum(dim=(-2, -1)), patches, probes, chi)
