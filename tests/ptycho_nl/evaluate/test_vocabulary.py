"""One metric vocabulary: the names compute_metrics returns are the ones tiles and studies use."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from ptycho_nl.evaluate.align import align_to_truth
from ptycho_nl.evaluate.metrics import (
    FRC_RESOLUTION,
    METRICS,
    SCALAR_METRICS,
    TILE_METRICS,
    compute_metrics,
    tile_metrics,
)


def _pair(side=72, seed=0):
    rng = np.random.default_rng(seed)
    amp = 0.5 + gaussian_filter(rng.random((side, side)), 1.5)
    phase = 4 * (gaussian_filter(rng.random((side, side)), 1.5) - 0.5)
    truth = amp * np.exp(1j * phase)
    noise = 0.05 * (rng.standard_normal(truth.shape) + 1j * rng.standard_normal(truth.shape))
    return truth + noise, truth


def test_every_named_metric_is_a_scalar_that_compute_metrics_returns():
    recon, truth = _pair()
    m = compute_metrics(recon, truth, register=False)
    assert len(METRICS) == len(SCALAR_METRICS)  # names are unique
    for metric in SCALAR_METRICS:
        assert isinstance(m[metric.name], float), metric.name
    assert m[FRC_RESOLUTION.name] == m["frc"]["resolution_px"]
    assert set(TILE_METRICS) <= set(SCALAR_METRICS)


def test_one_tile_scores_the_same_as_the_whole_image():
    recon, truth = _pair()
    aligned = align_to_truth(recon, truth, register=False).recon
    whole = compute_metrics(aligned, truth, register=False)
    tiles = tile_metrics(aligned, truth, tiles_per_side=1)
    assert set(tiles) == {m.name for m in TILE_METRICS}
    for metric in TILE_METRICS:
        assert tiles[metric.name] == [pytest.approx(whole[metric.name], abs=1e-9)], metric.name


def test_tiles_never_fall_below_the_minimum_side():
    recon, truth = _pair(side=72)
    tiles = tile_metrics(recon, truth, tiles_per_side=10, min_tile=24)
    assert all(len(v) == 9 for v in tiles.values())  # 72 // 24 = 3 per axis, not 10
    better = tile_metrics(truth, truth, tiles_per_side=3)
    worse = tile_metrics(recon, truth, tiles_per_side=3)
    for metric in TILE_METRICS:
        sign = 1 if metric.higher_is_better else -1
        assert all(
            sign * (b - w) > 0 for b, w in zip(better[metric.name], worse[metric.name], strict=True)
        ), metric.name
