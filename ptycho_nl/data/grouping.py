"""Neighbour groups of scan positions: gridsize g -> groups of C = g^2 nearby patterns.

positions (n, 2) float (row, col) -> groups (G, C) int64 pattern indices, anchor first, then its
C - 1 nearest neighbours by distance. Ties between equidistant neighbours (common on a raster)
are broken by a permutation drawn from `seed`, so groups are deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
import torch

ANCHOR_BLOCK = 1024  # anchors per cdist block: memory O(block * n)


def group_neighbours(
    positions: np.ndarray | torch.Tensor,
    gridsize: int,
    seed: int = 0,
    *,
    n_groups: int | None = None,
) -> np.ndarray:
    """(G, C) int64 groups. gridsize 1 -> arange(n)[:, None]; otherwise every pattern (or a
    seeded sample of `n_groups` anchors) with its C - 1 nearest neighbours."""
    pos = torch.as_tensor(np.asarray(positions), dtype=torch.float64)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions: expected shape (n, 2), found {tuple(pos.shape)}")
    if gridsize < 1:
        raise ValueError(f"gridsize: expected an integer >= 1, found {gridsize}")
    n, c = pos.shape[0], gridsize * gridsize
    if c > n:
        raise ValueError(f"gridsize {gridsize} needs {c} patterns per group, the file has {n}")
    gen = torch.Generator().manual_seed(seed)
    anchors = torch.arange(n)
    if n_groups is not None:
        if not 1 <= n_groups <= n:
            raise ValueError(f"n_groups: expected 1..{n}, found {n_groups}")
        anchors = torch.sort(torch.randperm(n, generator=gen)[:n_groups]).values
    if c == 1:
        return anchors[:, None].numpy().astype(np.int64)
    # Columns visited in a seeded order; a stable sort then breaks distance ties by that order.
    perm = torch.randperm(n, generator=gen)
    shuffled = pos[perm]
    blocks = []
    for start in range(0, len(anchors), ANCHOR_BLOCK):
        block = anchors[start : start + ANCHOR_BLOCK]
        dist = torch.cdist(pos[block], shuffled)  # (b, n)
        dist[perm[None, :] == block[:, None]] = -1.0  # the anchor always comes first
        order = torch.sort(dist, dim=1, stable=True).indices[:, :c]
        blocks.append(perm[order])
    return torch.cat(blocks).numpy().astype(np.int64)
