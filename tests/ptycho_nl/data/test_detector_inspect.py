"""`inspect`'s statistics on a scan with injected hot, dead and saturated pixels."""

import dataclasses

import numpy as np
import pytest
from recon_scans import make_scan

from ptycho_nl.data.detector import inspect_detector


@pytest.fixture(scope="module")
def counted():
    """A scan as counts (s = 1: amplitudes are sqrt(k)), about 1e5 photons per pattern."""
    scan = make_scan(side=56, step=6)
    intensity = np.square(scan.diffraction.astype(np.float64))
    k = np.random.default_rng(0).poisson(intensity * 1e5 / intensity.sum(axis=(1, 2)).mean())
    return dataclasses.replace(scan, diffraction=np.sqrt(k).astype(np.float32), intensity_scale=1.0)


def test_injected_pixels_are_found_and_counted(counted):
    k = np.square(counted.diffraction.astype(np.float64))
    hot, dead = (3, 27), (14, 16)  # dead pixel near the bright centre, where it shows
    k[:, hot[0], hot[1]] = 50 * k.mean(axis=0).max()
    k[:, dead[0], dead[1]] = 0
    bad = dataclasses.replace(counted, diffraction=np.sqrt(k).astype(np.float32))
    level = float(np.percentile(k.max(axis=0), 99.9))
    report, mask = inspect_detector(bad, saturation=level)
    assert tuple(report.hot_pixels[0]) == hot and len(report.hot_pixels) == 1
    assert tuple(dead) in [tuple(p) for p in report.dead_pixels]
    assert not mask[hot] and not mask[dead] and mask.mean() > 0.99
    assert len(report.saturated_pixels) >= 1
    np.testing.assert_allclose(report.counts_per_pattern, k.sum(axis=(1, 2)), rtol=1e-6)
    # Centre of mass: a direct weighted mean for pattern 0.
    rows = np.arange(k.shape[1]) - k.shape[1] / 2
    com_row = (k[0].sum(axis=1) * rows).sum() / k[0].sum()
    assert report.centre_of_mass[0][0] == pytest.approx(com_row)


def test_clean_scan_needs_no_mask(counted):
    report, mask = inspect_detector(counted)
    assert report.hot_pixels == [] and report.saturated_pixels == [] and mask.all()


def test_the_files_own_mask_stays_in_the_suggestion(counted):
    own = np.ones((counted.patch_size,) * 2, bool)
    own[0, 0] = False
    report, mask = inspect_detector(dataclasses.replace(counted, mask=own))
    assert report.existing_mask and not mask[0, 0] and mask.sum() == own.sum()
