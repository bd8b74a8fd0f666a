"""The teach signal's scale and guards.

The teach signal of a fast-weight memory is the gradient of its inner (associative) loss at
the memory's output, `e_t = M(k_t) - v_t`; it is scaled by `teach_scale * schedule(step)`
(`teach_factor`), bounded per token in norm (`clip_per_token`, hard), and the per-token inner
gradient it produces is soft-clamped (`soft_clamp`): large surprises still write, but boundedly,
which is what keeps a memory from running away at high teach scales.
"""

from __future__ import annotations

import torch

from ptycho_nl.nested_config import NestedConfig


def schedule(step: int, cfg: NestedConfig) -> float:
    """Linear warm-up over `teach_warmup_steps`, then linear decay to `teach_min_factor` over
    `teach_decay_steps`, then constant. `step` counts training steps from 0."""
    if step < cfg.teach_warmup_steps:
        return (step + 1) / (cfg.teach_warmup_steps + 1)
    done = min((step - cfg.teach_warmup_steps) / cfg.teach_decay_steps, 1.0)
    return 1.0 - (1.0 - cfg.teach_min_factor) * done


def teach_factor(step: int, cfg: NestedConfig, level: int) -> float:
    """The factor on level `level`'s inner updates (0: the memory, 1..: CMS levels)."""
    return cfg.level_scales()[level] * schedule(step, cfg)


def clip_per_token(signal: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rescale each token's vector (last axis) to norm <= bound; also how many were clipped."""
    norm = torch.linalg.vector_norm(signal, dim=-1, keepdim=True)
    scale = torch.clamp(bound / norm.clamp_min(torch.finfo(signal.dtype).tiny), max=1.0)
    return signal * scale, (norm > bound).sum()


def soft_clamp(norm: torch.Tensor, tau: float) -> torch.Tensor:
    """Factor that maps a gradient of norm n to norm tau * tanh(n / tau) (about n when small)."""
    safe = norm.clamp_min(torch.finfo(norm.dtype).tiny)
    return torch.where(norm > 0, tau * torch.tanh(safe / tau) / safe, torch.ones_like(norm))


class InnerSettings:
    """What one level's inner update needs at this step: its teach factor and guards."""

    __slots__ = ("factor", "clip", "teach_clip", "grad_clamp", "anomaly", "step")

    def __init__(
        self,
        factor: float,
        *,
        clip: bool = True,
        teach_clip: float = 1.0,
        grad_clamp: float = 1.0,
        anomaly: bool = False,
        step: int = 0,
    ):
        self.factor, self.clip, self.teach_clip = factor, clip, teach_clip
        self.grad_clamp, self.anomaly, self.step = grad_clamp, anomaly, step


def level_settings(step: int, cfg: NestedConfig) -> tuple[InnerSettings, ...]:
    """The settings of every level (memory, then CMS levels) at training step `step`."""
    return tuple(
        InnerSettings(
            teach_factor(step, cfg, level),
            clip=cfg.clip,
            teach_clip=cfg.teach_clip,
            grad_clamp=cfg.grad_clamp,
            anomaly=cfg.detect_anomaly,
            step=step + 1,  # the trainer's 1-based number of the step being taken
        )
        for level in range(1 + len(cfg.cms_periods))
    )
