"""Neighbour grouping checked against a brute-force numpy computation."""

import numpy as np
import pytest

from ptycho_nl.data.grouping import group_neighbours


def _raster(rows, cols, step=5.0):
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.stack([r.ravel(), c.ravel()], axis=-1) * step


def test_gridsize_one_is_each_pattern_alone():
    groups = group_neighbours(_raster(3, 4), 1, seed=3)
    np.testing.assert_array_equal(groups, np.arange(12)[:, None])
    assert groups.dtype == np.int64


def test_gridsize_two_takes_anchor_and_three_nearest():
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 100, size=(50, 2))
    groups = group_neighbours(pos, 2, seed=0)
    assert groups.shape == (50, 4)
    np.testing.assert_array_equal(groups[:, 0], np.arange(50))
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    expected = np.argsort(dist, axis=1, kind="stable")[:, :4]  # no ties with random positions
    np.testing.assert_array_equal(groups, expected)


def test_raster_groups_are_nearest_and_deterministic_for_a_seed():
    pos = _raster(6, 6)
    a, b = group_neighbours(pos, 2, seed=7), group_neighbours(pos, 2, seed=7)
    np.testing.assert_array_equal(a, b)
    # The 3 neighbours are at the 3 smallest distances (interior points: 4 tied at one step).
    d = np.linalg.norm(pos[a[:, 1:]] - pos[a[:, :1]], axis=-1)
    brute = np.sort(np.linalg.norm(pos[:, None] - pos[None], axis=-1), axis=1)[:, 1:4]
    np.testing.assert_allclose(d, brute)
    assert np.allclose(d[7], 5.0)  # an interior point: all three one step away
    others = [group_neighbours(pos, 2, seed=s) for s in range(5)]
    assert any(not np.array_equal(a, o) for o in others)  # ties really depend on the seed
    assert all(len(set(g)) == 4 for g in a)


def test_sampled_anchors_and_bad_arguments():
    pos = _raster(5, 5)
    groups = group_neighbours(pos, 2, seed=1, n_groups=10)
    assert groups.shape == (10, 4) and len(set(groups[:, 0])) == 10
    with pytest.raises(ValueError, match="gridsize 3 needs 9"):
        group_neighbours(pos[:5], 3)
    with pytest.raises(ValueError, match=r"expected shape \(n, 2\)"):
        group_neighbours(pos[:, 0], 2)
