"""The training config (pydantic): every field that changes a run, digested as one tree.

`config_digest(TrainConfig)` (SHA-256 of the canonical JSON) is attached to every log line,
checkpoint, manifest and bundle of the run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ptycho_nl.config import StrictModel, config_digest
from ptycho_nl.nested_config import NestedConfig


class ModelConfig(StrictModel):
    """Which registered network to build, and its shape."""

    name: str = Field("pinn", description="registered model family (built in: pinn, supervised)")
    channels: tuple[int, int, int] = Field((32, 64, 128), description="encoder widths")
    amp_max: float = Field(2.0, gt=0, description="bound of the amplitude head")
    # Left out of the dumped config (and so of the digest) when 0: earlier runs keep theirs.
    global_features: int = Field(
        0,
        ge=0,
        description="dense bottleneck width, 0 for none (gives the network the whole pattern)",
        exclude_if=lambda v: v == 0,
    )
    input_transform: Literal["linear", "log1p"] = Field(
        "linear",
        description="fixed pointwise map of the scaled input amplitudes",
        exclude_if=lambda v: v == "linear",
    )
    type: str | None = Field(
        None, description="variant within the family (nested: titan, hope, attention)"
    )
    nested: NestedConfig = Field(default_factory=NestedConfig, description="nested family")


class DataConfig(StrictModel):
    """How the NPZ file is grouped and split."""

    gridsize: int = Field(1, ge=1, le=4, description="groups hold gridsize**2 neighbours")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="share of groups held out")
    max_groups: int | None = Field(None, ge=2, description="use at most this many groups")
    # Left out of the dumped config (and so of the digest) at its default: earlier runs keep theirs.
    batch_order: Literal["shuffled", "local"] = Field(
        "shuffled",
        description="training batches: shuffled groups, or groups with neighbouring anchors "
        "(ptycho_nl/data/local_batches.py), whose shared patterns the network predicts once; "
        "'local' is for study only: it trains worse and barely faster (docs/findings.md NET-005)",
        exclude_if=lambda v: v == "shuffled",
    )


class LossConfig(StrictModel):
    """Loss of the physics-informed model (the supervised model always uses L1)."""

    kind: Literal["poisson", "amplitude_mae"] = "poisson"
    # The term is a per-pixel mean of |O_c - mean|^2 (~1e-3 when neighbours roughly agree), so
    # it needs a large weight to matter; the default came from a sweep of weights at gridsize 2
    # with benchmarks/bench_network_learning.py.
    overlap_weight: float = Field(1000.0, ge=0, description="gridsize > 1 overlap term weight")


class OptimizerConfig(StrictModel):
    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)


class ScheduleConfig(StrictModel):
    """Learning-rate schedule, stepped once per epoch."""

    name: Literal["constant", "cosine"] = "constant"
    warmup_epochs: int = Field(0, ge=0)
    min_lr_factor: float = Field(0.1, ge=0, le=1)


class SentinelConfig(StrictModel):
    """Thresholds of the failure sentinel."""

    grad_clip_norm: float = Field(100.0, gt=0, description="clip gradients above this norm")
    max_oom_per_minute: int = Field(5, ge=0, description="more CUDA OOMs than this abort")
    check_parameters: bool = True


class TelemetryConfig(StrictModel):
    log_every_steps: int = Field(10, ge=1, description="a step event every k optimiser steps")
    log_gpu_stats: bool = Field(False, description="add gpu_mem_mb and gpu_util_pct (pynvml)")


class TrainConfig(StrictModel):
    """Full resolved training configuration."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    sentinel: SentinelConfig = Field(default_factory=SentinelConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(32, ge=1)
    seed: int = Field(0, ge=0)
    checkpoint_every: int = Field(1, ge=1, description="keep checkpoint_epoch_<k>.pt every k")
    # Left out of the dumped config (and so of the digest) when 0: earlier runs keep theirs.
    early_stop_patience: int = Field(
        0,
        ge=0,
        description="end the run after this many epochs without a lower validation loss (0: "
        "never); the bundle holds the best epoch's weights either way, so a stopped run loses "
        "only what a later, lower validation loss would have given",
        exclude_if=lambda v: v == 0,
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = Field(False, description="mixed precision (CUDA only; ignored on CPU)")
    deterministic: bool = Field(True, description="torch deterministic algorithms")

    @property
    def digest(self) -> str:
        return config_digest(self)


def default_config(model: str = "pinn", epochs: int = 5, **overrides) -> TrainConfig:
    """A config for `model` with `epochs`; `overrides` are top-level TrainConfig fields."""
    base = TrainConfig(model=ModelConfig(name=model), epochs=epochs).model_dump()
    return TrainConfig.model_validate({**base, **overrides})


PRESET_CONFIGS: dict[str, TrainConfig] = {
    # A few seconds on 2 cores (N=32, 64 patterns): the study's and the tests' size.
    "tiny": TrainConfig(epochs=3, batch_size=16, optimizer=OptimizerConfig(lr=3e-3)),
    "small": TrainConfig(epochs=8, batch_size=32, optimizer=OptimizerConfig(lr=2e-3)),
    # Nested-learning language models (docs/nested_learning.md); --model-type picks the blocks.
    # nl-recall: 4 pairs recalled from 34+ tokens back through a window of 8; 320 steps.
    "nl-recall": TrainConfig(
        model=ModelConfig(
            name="nested",
            type="titan",
            nested=NestedConfig(
                task="recall",
                dim=32,
                layers=1,
                window=8,
                chunk=8,
                cms_periods=(8, 16),
                memory_hidden=32,
                mlp_hidden=64,
                seq_len=48,
                train_sequences=1024,
                recall_pairs=4,
                recall_keys=8,
                recall_values=8,
            ),
        ),
        epochs=5,
        batch_size=16,
        optimizer=OptimizerConfig(lr=3e-3),
        device="cpu",
    ),
    "nl-char": TrainConfig(
        model=ModelConfig(name="nested", type="titan", nested=NestedConfig(task="char")),
        epochs=1,
        batch_size=16,
        optimizer=OptimizerConfig(lr=3e-3),
        device="cpu",
    ),
}
