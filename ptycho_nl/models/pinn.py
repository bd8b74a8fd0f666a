"""Physics-informed unsupervised model: trained through the forward model on measured counts.

Axis legend:  B  groups in a batch   C  patterns per group (gridsize**2)   N  patch side

Loss:  rate = s^2 (|far_field(P * O_hat)|^2 + b),  counts k = (s A)^2,  b the data's background,
    data term = PoissonNLL(rate, k) - PoissonNLL(k, k)     (the deviance per pixel: >= 0 and
    O(1) at any dose, so a fall of the loss reads as a fall of the misfit), averaged over the
    valid detector pixels of the data's mask (specs/data_contracts.md §6)
    overlap term (C > 1) = sum w |O_c - canvas average|^2 / sum w, w = |P|^2 / max |P|^2
For C > 1 the rate is computed from the group's merged object (each patch re-extracted from the
w-weighted canvas average), as in PtychoPINN: one 32x32 pattern cannot pin its own patch (a
direct pixel fit reaches deviance 0 with a flat patch's error), a merged group of 4 can.
"""

from __future__ import annotations

import torch

from ptycho_nl import physics
from ptycho_nl.models.backbone import LossContext, PatchNet
from ptycho_nl.models.patch_task import prepare_patch_task
from ptycho_nl.models.registry import register

MERGE_FLOOR = 1e-3  # weight of a patch far outside its own probe when merging neighbours


def predicted_rate(patches: torch.Tensor, probe: torch.Tensor, scale: float) -> torch.Tensor:
    """Expected counts lambda = s^2 |far_field(P * O)|^2.  patches : (..., N, N) complex.

    probe (N, N), or (K, N, N) incoherent modes: then lambda = s^2 sum_k |far_field(P_k O)|^2
    (partially coherent illumination: mode intensities add)."""
    if probe.dim() == 3:
        waves = physics.exit_wave(probe, patches.unsqueeze(-3))  # (..., K, N, N)
        return (scale * scale) * physics.intensity(physics.far_field(waves)).sum(dim=-3)
    return (scale * scale) * physics.intensity(physics.far_field(physics.exit_wave(probe, patches)))


def poisson_deviance(
    rate: torch.Tensor, counts: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean Poisson NLL minus its value at the saturated fit (rate = counts): >= 0.

    mask : (N, N) bool valid detector pixels (None = all): the mean runs over valid pixels only.
    """
    if mask is None:
        return physics.poisson_nll(rate, counts) - physics.poisson_nll(counts, counts)
    eps = 1e-8
    saturated = counts - counts * torch.log(counts + eps)
    per_pixel = rate - counts * torch.log(rate + eps) - saturated
    return masked_mean(per_pixel, mask)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (..., N, N) `values` over the pixels where the (N, N) `mask` is True."""
    weight = mask.to(values.dtype)
    per_pattern = values.numel() // values.shape[-1] // values.shape[-2]
    return (values * weight).sum() / (weight.sum() * per_pattern).clamp_min(1)


def _canvas_index(positions: torch.Tensor, n: int) -> tuple[torch.Tensor, int]:
    """Flat index (B C N N,) of every patch pixel on per-group local canvases, and the canvas
    count B * span^2. Patches sit at their relative integer offsets (the sub-pixel remainder is
    ignored: neighbours are several pixels apart)."""
    b = positions.shape[0]
    relative = positions - positions.min(dim=1, keepdim=True).values
    offsets = torch.round(relative).to(torch.long)  # (B, C, 2)
    span = int(offsets.max()) + n
    pixels = torch.arange(n, device=positions.device)
    rows = offsets[..., 0, None, None] + pixels[:, None]  # (B, C, N, 1)
    cols = offsets[..., 1, None, None] + pixels[None, :]  # (B, C, 1, N)
    group = torch.arange(b, device=positions.device)[:, None, None, None]
    return ((group * span + rows) * span + cols).reshape(-1), b * span * span


def canvas_average(
    patches: torch.Tensor, positions: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Each pixel replaced by the `weight`-weighted mean of all the group's patches covering it.

    patches   : (B, C, N, N) complex   predictions of the C neighbours of each group
    positions : (B, C, 2) float         (row, col) centres in object pixels
    weight    : (N, N) real > 0         per-pixel trust, e.g. |P|^2 / max |P|^2 (+ a floor)
    Returns (B, C, N, N) complex: the patches re-extracted from the merged group canvas.
    """
    b, c, n, _ = patches.shape
    flat, size = _canvas_index(positions.to(patches.device), n)
    w = weight.to(patches.real.dtype).to(patches.device).expand(b, c, n, n).reshape(-1)
    values = patches.reshape(-1)
    zeros = torch.zeros(size, dtype=w.dtype, device=w.device)
    num_re = zeros.index_add(0, flat, w * values.real)
    num_im = zeros.index_add(0, flat, w * values.imag)
    den = zeros.index_add(0, flat, w).clamp_min(torch.finfo(w.dtype).tiny)
    merged = torch.complex(num_re / den, num_im / den)[flat]
    return merged.reshape(b, c, n, n)


def overlap_inconsistency(
    patches: torch.Tensor, positions: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Disagreement of neighbouring predicted patches where they overlap.

    patches   : (B, C, N, N) complex   predictions of the C neighbours of each group
    positions : (B, C, 2) float         (row, col) centres in object pixels
    weight    : (N, N) real >= 0        per-pixel trust, e.g. |P|^2 / max |P|^2
    The result is the weighted mean of |O_c - canvas average|^2 over all pixels, zero where
    only one patch lies.
    """
    b, c, n, _ = patches.shape
    mean = canvas_average(patches, positions, weight)
    w = weight.to(patches.real.dtype).to(patches.device).expand(b, c, n, n)
    residual = (patches - mean).abs().square()
    return (w * residual).sum() / w.sum().clamp_min(torch.finfo(w.dtype).tiny)


@register("pinn", prepare=prepare_patch_task)
class PINN(PatchNet):
    """Unsupervised physics-informed network (Poisson NLL through the forward model)."""

    def training_loss(
        self, batch: dict[str, torch.Tensor], context: LossContext
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """batch: `diffraction` (B, C, N, N) float32, `positions` (B, C, 2). Returns (loss, parts)."""
        amplitude = batch["diffraction"]
        predicted = self.predict_groups(amplitude, batch.get("index"))  # (B, C, N, N)
        probe = context.probe.to(predicted.device)
        weight = probe.abs().square()
        weight = weight / weight.max()
        raw = predicted
        if amplitude.shape[1] > 1:
            # A single pattern under-determines its patch (2 N^2 unknowns, N^2 counts): like
            # PtychoPINN, diffract the group's merged object so that neighbours share pixels.
            predicted = canvas_average(predicted, batch["positions"], weight + MERGE_FLOOR)
        mask, background = context.mask, context.background
        if context.loss == "amplitude_mae":
            farfield = physics.far_field(physics.exit_wave(probe, predicted))
            modelled = (farfield.abs().square() + background).sqrt()
            if mask is None:
                data_term = physics.amplitude_mae(modelled, amplitude)
            else:
                data_term = masked_mean((modelled - amplitude).abs(), mask.to(amplitude.device))
        else:
            scale = float(context.intensity_scale)
            # The background is incoherent: it adds s^2 b expected counts per pixel.
            rate = predicted_rate(predicted, probe, scale) + (scale * scale) * background
            counts = physics.amplitude_to_counts(amplitude, scale).to(rate.dtype)
            data_term = poisson_deviance(
                rate, counts, None if mask is None else mask.to(rate.device)
            )
        parts = {"data": data_term.detach()}
        loss = data_term
        if context.overlap_weight > 0 and amplitude.shape[1] > 1:
            overlap = overlap_inconsistency(raw, batch["positions"], weight)
            parts["overlap"] = overlap.detach()
            loss = loss + context.overlap_weight * overlap
        return loss, parts
