"""Spatially local training batches: groups whose anchors lie close together share patterns.

A gridsize-2 group is its anchor and 3 nearest neighbours, so on a dense scan every pattern sits
in about 4 groups. Drawn at random, a batch of 16 groups holds ~63 distinct patterns of its 64
and the network predicts each pattern ~4 times an epoch. Cut from a space-filling order of the
anchors instead, a batch of 16 groups holds ~30 distinct patterns, and the network, which sees
each pattern on its own (`PatchNet.predict_groups(..., index)`), predicts each of them once.

Per epoch: the anchors' positions, shifted by a random fraction of a cell, are quantised to
cells of the scan's median neighbour spacing and sorted along a Z-order (Morton) curve; the
sorted list is rotated by a random offset, cut into batches of `batch_size` and the batches
are shuffled. Rank r of `world_size` takes every world_size-th batch (the list padded by
wrapping so all ranks step the same number of times). All draws come from (seed, epoch).

Measured, it does not pay (docs/findings.md NET-005): on the demo's dense cell the PINN trained
with local batches ends at held-out NRMSE 0.286 against 0.203 shuffled, and an epoch is only
1.07-1.17x faster timed alone. The batch's groups are neighbours, so its gradients are
correlated; and the step's remaining work (Poisson loss, canvas merge, optimizer) does not
shrink with the patterns. It stays opt-in
(`data.batch_order = "local"`) so that the comparison can be rerun.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ptycho_nl.data.grouping import nearest_neighbour_distances

MORTON_BITS = 21  # per axis: 2 x 21 bits fit an int64 key


def neighbour_spacing(points: np.ndarray) -> float:
    """Median distance of each point to its nearest other point (1.0 for fewer than 2)."""
    if len(points) < 2:
        return 1.0
    spacing = float(np.median(nearest_neighbour_distances(points).numpy()))
    return spacing if spacing > 0 else 1.0


def morton_keys(cells: np.ndarray) -> np.ndarray:
    """Z-order keys of non-negative integer (row, col) cells: bits of row and col interleaved."""
    cells = np.asarray(cells, dtype=np.int64)
    if cells.size and (cells.min() < 0 or cells.max() >= 1 << MORTON_BITS):
        raise ValueError(
            f"cells: expected integers in [0, 2^{MORTON_BITS}), found {cells.min()}..{cells.max()}"
        )
    keys = np.zeros(len(cells), dtype=np.int64)
    for bit in range(MORTON_BITS):
        keys |= ((cells[:, 0] >> bit) & 1) << (2 * bit + 1)
        keys |= ((cells[:, 1] >> bit) & 1) << (2 * bit)
    return keys


class LocalBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of dataset indices whose anchor positions are neighbours (see the module doc).

    anchors : (G, 2) float (row, col) position of each item's anchor pattern.
    Use as `DataLoader(dataset, batch_sampler=sampler)`; call `set_epoch` before each epoch.
    """

    def __init__(
        self,
        anchors: np.ndarray,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        anchors = np.asarray(anchors, dtype=np.float64)
        if anchors.ndim != 2 or anchors.shape[1] != 2 or len(anchors) == 0:
            raise ValueError(f"anchors: expected shape (G >= 1, 2), found {anchors.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, found {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0..{world_size - 1}, found {rank}")
        self.anchors = anchors - anchors.min(axis=0)
        self.cell = neighbour_spacing(anchors)
        self.batch_size, self.seed = batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.anchors) / self.batch_size) / self.world_size)

    def batches(self) -> list[list[int]]:
        """Every batch of this epoch (all ranks), in the order they are drawn."""
        rng = np.random.default_rng([self.seed, self.epoch])
        shift = rng.uniform(0.0, self.cell, size=2)
        cells = np.floor((self.anchors + shift) / self.cell).astype(np.int64)
        order = np.argsort(morton_keys(cells), kind="stable")
        order = np.roll(order, -int(rng.integers(len(order))))
        cut = [
            order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)
        ]
        return [cut[i] for i in rng.permutation(len(cut))]

    def __iter__(self):
        batches = self.batches()
        total = len(self) * self.world_size
        padded = [batches[i % len(batches)] for i in range(total)]
        return iter(padded[self.rank :: self.world_size])
