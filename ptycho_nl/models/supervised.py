"""Supervised baseline (PtychoNN-style): the same backbone trained on ground-truth patches `Y`.

Axis legend:  B  groups in a batch   C  patterns per group   N  patch side
Loss: L1 on amplitude plus L1 on the wrapped phase difference angle(O_hat * conj(Y)).
"""

from __future__ import annotations

import torch

from ptycho_nl.models.backbone import LossContext, PatchNet
from ptycho_nl.models.patch_task import prepare_patch_task
from ptycho_nl.models.registry import register


def amplitude_phase_l1(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean |(|O_hat| - |Y|)| + mean |wrap(phase O_hat - phase Y)|, both (..., N, N) complex."""
    amplitude_term = (predicted.abs() - truth.abs()).abs().mean()
    phase_term = torch.angle(predicted * truth.conj()).abs().mean()
    return amplitude_term + phase_term


@register("supervised", prepare=prepare_patch_task)
class Supervised(PatchNet):
    """Supervised encoder-decoder; needs `patches` (ground truth) in every batch."""

    requires_ground_truth = True

    def training_loss(
        self, batch: dict[str, torch.Tensor], context: LossContext
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """batch: `diffraction` (B, C, N, N) float32, `patches` (B, C, N, N) complex64."""
        if "patches" not in batch:
            raise ValueError(
                "model 'supervised' needs ground-truth patches: the data file has no 'Y' key"
            )
        predicted = self.predict_groups(batch["diffraction"], batch.get("index"))
        loss = amplitude_phase_l1(predicted, batch["patches"].to(predicted.device))
        return loss, {"data": loss.detach()}
