"""Spatially local training batches: every group once an epoch, and far fewer distinct patterns
per batch than shuffled batches, on a raster scan grouped as the trainer groups it."""

import numpy as np
import pytest
import torch

from ptycho_nl.data.grouping import group_neighbours
from ptycho_nl.data.local_batches import LocalBatchSampler, morton_keys, neighbour_spacing


def _raster(rows, cols, step=5.0, jitter=0.0, seed=0):
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    pos = np.stack([r.ravel(), c.ravel()], axis=-1) * step
    return pos + np.random.default_rng(seed).uniform(-jitter, jitter, pos.shape)


def _interleaved(row: int, col: int) -> int:
    """Reference Z-order key: the binary digits of row and col interleaved as a string."""
    r, c = f"{row:021b}", f"{col:021b}"
    return int("".join(a + b for a, b in zip(r, c, strict=True)), 2)


def test_morton_keys_interleave_the_bits_of_row_and_col():
    cells = np.random.default_rng(1).integers(0, 5000, size=(200, 2))
    expected = [_interleaved(int(r), int(c)) for r, c in cells]
    np.testing.assert_array_equal(morton_keys(cells), expected)
    # The first four cells of the curve: (0,0), (0,1), (1,0), (1,1).
    np.testing.assert_array_equal(
        morton_keys(np.array([[0, 0], [0, 1], [1, 0], [1, 1]])), [0, 1, 2, 3]
    )
    with pytest.raises(ValueError, match="expected integers in"):
        morton_keys(np.array([[-1, 0]]))


def test_neighbour_spacing_is_the_raster_step():
    assert neighbour_spacing(_raster(6, 7, step=4.5)) == pytest.approx(4.5)
    assert neighbour_spacing(np.zeros((1, 2))) == 1.0


def test_neighbour_spacing_agrees_with_a_direct_distance_matrix():
    pts = _raster(9, 11, step=3.0, jitter=1.2, seed=4)
    dist = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    assert neighbour_spacing(pts) == pytest.approx(float(np.median(dist.min(axis=1))), rel=1e-12)


def test_each_epoch_visits_every_group_once_and_epochs_differ():
    anchors = _raster(9, 11, jitter=1.0)
    sampler = LocalBatchSampler(anchors, 16, seed=3)
    seen = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 7  # ceil(99 / 16)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(99))
        seen.append(batches)
    assert seen[0] != seen[1] != seen[2]
    again = LocalBatchSampler(anchors, 16, seed=3)
    again.set_epoch(1)
    assert list(again) == seen[1]  # deterministic for (seed, epoch)


def test_ranks_split_the_batches_and_step_the_same_number_of_times():
    anchors = _raster(9, 11)
    world = 3
    per_rank = []
    for rank in range(world):
        s = LocalBatchSampler(anchors, 8, seed=0, rank=rank, world_size=world)
        s.set_epoch(2)
        per_rank.append(list(s))
    assert len({len(b) for b in per_rank}) == 1  # 13 batches padded to 15: 5 each
    assert len(per_rank[0]) == 5
    covered = {i for batches in per_rank for b in batches for i in b}
    assert covered == set(range(99))


def test_local_batches_share_patterns_that_shuffled_batches_do_not():
    pos = _raster(24, 24, jitter=1.0)
    groups = group_neighbours(pos, 2, seed=0)  # anchor + 3 nearest, as the trainer groups
    sampler = LocalBatchSampler(pos[groups[:, 0]], 16, seed=0)
    local = np.mean([len(np.unique(groups[b])) for b in sampler])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(groups))
    shuffled = np.mean(
        [len(np.unique(groups[order[i : i + 16]])) for i in range(0, len(order), 16)]
    )
    assert shuffled > 58  # of 64: random groups of a 576-pattern scan rarely meet
    assert local < 0.6 * shuffled, (local, shuffled)
    # Local means near: a batch's anchors span a few raster steps, not the scan.
    spans = [np.ptp(pos[groups[b, 0]], axis=0).max() for b in sampler]
    assert np.median(spans) < 8 * 5.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"expected shape \(G >= 1, 2\)"):
        LocalBatchSampler(np.zeros((4, 3)), 4)
    with pytest.raises(ValueError, match="batch_size: expected >= 1"):
        LocalBatchSampler(np.zeros((4, 2)), 0)
    with pytest.raises(ValueError, match="rank: expected 0..1"):
        LocalBatchSampler(np.zeros((4, 2)), 2, rank=2, world_size=2)


def test_a_dataloader_draws_the_samplers_batches():
    anchors = _raster(5, 5)
    data = torch.utils.data.TensorDataset(torch.arange(25))
    sampler = LocalBatchSampler(anchors, 4, seed=1)
    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler)
    drawn = [b[0].tolist() for b in loader]
    assert drawn == list(sampler) and len(loader) == 7
