"""How the patch networks (`pinn`, `supervised`) train: the ptychography side of the trainer.

`prepare_patch_task` opens the data file through the memory-mapped bridge, splits its groups
into training and validation, builds the network with its global input normalisation and
returns the `TrainingTask` the generic trainer runs: batches of neighbour groups
(`diffraction`, `positions`, `patches` when the file has `Y`) and the model's own
`training_loss` as the step. Family protocol: `ptycho_nl.models.registry`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ptycho_nl.data.local_batches import LocalBatchSampler
from ptycho_nl.errors import ConfigError, ContractError
from ptycho_nl.models.backbone import LossContext, PatchNet
from ptycho_nl.models.registry import StepOutput, TaskInputs, TrainingTask, model_family

VAL_BATCH_MIN = 64  # validation needs no gradients: larger batches, fewer calls


def split_groups(n_groups: int, cfg) -> tuple[list[int], list[int]]:
    """Seeded train/validation split of group indices (same on every rank)."""
    order = torch.randperm(n_groups, generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    if cfg.data.max_groups is not None:
        order = order[: cfg.data.max_groups]
    n_val = max(1, round(len(order) * cfg.data.val_fraction))
    if len(order) - n_val < 1:
        raise ConfigError(f"data: {len(order)} groups cannot be split into train and validation")
    return sorted(order[n_val:]), sorted(order[:n_val])


def input_scale_of(source) -> float:
    """One global input normalisation: RMS of the stored amplitudes (first 4096 patterns)."""
    sample = np.asarray(source.data.diffraction[:4096], dtype=np.float64)
    rms = float(np.sqrt(np.mean(np.square(sample))))
    return rms if rms > 0 and math.isfinite(rms) else 1.0


def patch_step(context: LossContext):
    """The step of a patch network: its `training_loss` on one batch; no carried state."""

    def step(model: PatchNet, batch: dict[str, torch.Tensor], state: None) -> StepOutput:
        loss, parts = model.training_loss(batch, context)
        return StepOutput(loss, None, parts, batch["diffraction"].shape[0])

    return step


def _to_device(batches, device: torch.device):
    for batch in batches:
        yield {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def detector_terms(data, device: torch.device) -> dict[str, object]:
    """The data's mask and background for the loss (specs/data_contracts.md §6). A per-pattern
    mask enters as the pixels valid in every pattern: the loss sees groups, not files."""
    terms: dict[str, object] = {}
    if data.mask is not None:
        mask = np.asarray(data.mask, dtype=bool)
        mask = mask if mask.ndim == 2 else mask.all(axis=0)
        terms["mask"] = torch.from_numpy(np.ascontiguousarray(mask)).to(device)
    if data.background is not None:
        background = torch.as_tensor(np.asarray(data.background), dtype=torch.float32)
        terms["background"] = background.to(device)
    return terms


def prepare_patch_task(inputs: TaskInputs) -> TrainingTask:
    """Data, model and loss of a patch network (ContractError on data it cannot train on)."""
    from ptycho_nl.data.bridge import MemmapDatasetBridge

    cfg, data_path, device = inputs.config, inputs.data_path, inputs.device
    source = MemmapDatasetBridge(data_path, gridsize=cfg.data.gridsize, seed=cfg.seed)
    name = cfg.model.name
    builder = model_family(name).build
    if getattr(builder, "requires_ground_truth", False) and source.data.patches is None:
        raise ContractError(
            str(data_path),
            [
                f"{data_path}: key 'Y': model '{name}' trains on ground-truth patches, "
                "expected (n, N, N) complex64, found no such key [specs/data_contracts.md]"
            ],
        )
    train_idx, val_idx = split_groups(len(source.groups), cfg)
    train_set, val_set = source.dataset(train_idx), source.dataset(val_idx)
    # The shape options the config sets (its dump leaves them out at their defaults), so a
    # builder that predates them still gets only the arguments it knows.
    shape = cfg.model.model_dump(include={"global_features", "input_transform"})
    model = builder(
        n=int(source.probe.shape[-1]),
        channels=cfg.model.channels,
        amp_max=cfg.model.amp_max,
        **shape,
    )
    model.set_input_scale(input_scale_of(source))
    model.to(device)
    context = LossContext(
        probe=source.probe.to(device),
        intensity_scale=float(source.intensity_scale),
        overlap_weight=cfg.loss.overlap_weight,
        loss=cfg.loss.kind,
        **detector_terms(source.data, device),
    )
    if cfg.data.batch_order == "local":
        anchors = train_set.groups[:, 0]
        sampler = LocalBatchSampler(
            np.stack([source.data.ycoords[anchors], source.data.xcoords[anchors]], axis=-1),
            cfg.batch_size,
            seed=cfg.seed,
            rank=inputs.rank,
            world_size=inputs.world_size,
        )
        train_loader = DataLoader(train_set, batch_sampler=sampler)
    else:
        sampler = DistributedSampler(
            train_set, num_replicas=inputs.world_size, rank=inputs.rank, shuffle=True, seed=cfg.seed
        )
        train_loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler)
    val_loader = DataLoader(val_set, batch_size=max(cfg.batch_size, VAL_BATCH_MIN), shuffle=False)

    def train_batches(epoch: int):
        sampler.set_epoch(epoch)  # a new, rank-consistent shuffle every epoch
        return _to_device(train_loader, device)

    return TrainingTask(
        model=model,
        step=patch_step(context),
        train_batches=train_batches,
        val_batches=lambda: _to_device(val_loader, device),
        steps_per_epoch=len(train_loader),
        bundle_meta={
            "patch_size": model.patch_size,
            "gridsize": cfg.data.gridsize,
            "normalisation": {
                "input_scale": float(model.input_scale),
                "intensity_scale": float(source.intensity_scale),
                "applied_by": "model buffer input_scale: predict() divides amplitudes by it",
            },
        },
    )
