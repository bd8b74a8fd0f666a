"""Settings of the nested-learning family (`model.name = "nested"`), a section of the training
config (`model.nested`): the network, the teach signal and its stability guards, and the
sequence data it trains on. A module of its own outside `ptycho_nl.models` (whose package
imports torch): `ptycho_nl.train.config` imports it, and must load without torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ptycho_nl.config import StrictModel

ModelType = Literal["titan", "hope", "attention"]


class NestedConfig(StrictModel):
    """Network, teach signal and data of a nested-learning language model."""

    # --- network ------------------------------------------------------------------------------
    dim: int = Field(64, ge=8, description="token width")
    layers: int = Field(2, ge=1, description="stacked blocks")
    heads: int = Field(2, ge=1, description="attention heads (dim divisible by heads)")
    window: int = Field(16, ge=1, description="sliding attention window (tokens)")
    memory_hidden: int = Field(64, ge=1, description="hidden width of the fast-weight MLPs")
    mlp_hidden: int = Field(128, ge=1, description="hidden width of the static MLP (titan)")
    chunk: int = Field(16, ge=1, description="memory chunk: chunk n reads weights after n-1")
    cms_periods: tuple[int, ...] = Field((16, 64), description="CMS level update periods (hope)")
    match_params: bool = Field(
        True, description="attention: widen its MLP to the titan model's parameter count"
    )
    # --- teach signal and stability -------------------------------------------------------------
    max_lr: float = Field(0.5, gt=0, description="per-token inner rate is sigmoid(.) * max_lr")
    momentum: bool = Field(True, description="momentum of the memory's surprise")
    teach_scale: float = Field(0.1, ge=0, description="scale of every inner update")
    teach_scales: tuple[float, ...] | None = Field(
        None, description="per level (memory, then each CMS level); overrides teach_scale"
    )
    teach_warmup_steps: int = Field(50, ge=0, description="teach scale warm-up (steps)")
    teach_decay_steps: int = Field(2000, ge=1, description="then linear decay over this many")
    teach_min_factor: float = Field(0.5, ge=0, le=1, description="decay floor of the schedule")
    clip: bool = Field(True, description="in-module clipping of the teach signal per token")
    teach_clip: float = Field(1.0, gt=0, description="per-token teach-signal norm bound")
    grad_clamp: float = Field(1.0, gt=0, description="soft clamp tau of per-token inner grads")
    detect_anomaly: bool = Field(False, description="anomaly mode around the memory updates")
    checkpoint_activations: bool = Field(False, description="recompute blocks in backward")
    # --- data -----------------------------------------------------------------------------------
    task: Literal["recall", "char"] = Field("recall", description="associative recall or text")
    seq_len: int = Field(128, ge=2, description="tokens per training sequence / segment")
    train_sequences: int = Field(256, ge=1, description="recall: training sequences")
    val_sequences: int = Field(64, ge=1, description="recall: validation sequences")
    recall_pairs: int = Field(8, ge=1, description="recall: key-value pairs per sequence")
    recall_keys: int = Field(32, ge=2, description="recall: size of the key alphabet")
    recall_values: int = Field(32, ge=2, description="recall: size of the value alphabet")
    char_val_fraction: float = Field(0.1, gt=0, lt=1, description="char: held-out tail share")
    char_max_chars: int | None = Field(None, ge=1000, description="char: use the first n only")

    @model_validator(mode="after")
    def _consistent(self) -> NestedConfig:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(
                f"dim {self.dim} / heads {self.heads}: expected an even head width (rotary)"
            )
        if self.teach_scales is not None and len(self.teach_scales) != 1 + len(self.cms_periods):
            raise ValueError(
                f"teach_scales needs {1 + len(self.cms_periods)} values (memory + CMS levels), "
                f"found {len(self.teach_scales)}"
            )
        if any(p < 1 for p in self.cms_periods):
            raise ValueError("cms_periods must be positive")
        return self

    def level_scales(self) -> tuple[float, ...]:
        """Teach scale of the memory, then of each CMS level."""
        if self.teach_scales is not None:
            return tuple(self.teach_scales)
        return (self.teach_scale,) * (1 + len(self.cms_periods))
