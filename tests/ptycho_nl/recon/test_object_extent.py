"""Data without ground truth: the object frame follows from the positions and the probe size,
and the initial probe's power is matched to the data (specs/data_contracts.md §7)."""

import dataclasses

import numpy as np
import pytest
import torch
from recon_scans import make_scan, scanned_mask

from ptycho_nl.evaluate.metrics import compute_metrics
from ptycho_nl.operators import far_field
from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative


@pytest.fixture(scope="module")
def measured():
    """A scan as a measured file holds it: no objectGuess, a probe of the wrong scale (x 8)."""
    scan = make_scan(side=64, step=5)
    return scan, dataclasses.replace(scan, object=None, patches=None, probe=scan.probe * 8)


def _nrmse(result, scan):
    # The frame from the positions differs from the simulated object by a pixel or so: score
    # the frames' common part (both start at pixel 0 of the same positions).
    h = min(result.object.shape[0], scan.object.shape[0])
    w = min(result.object.shape[1], scan.object.shape[1])
    recon, truth = result.object.numpy()[:h, :w], scan.object[:h, :w]
    return compute_metrics(recon, truth, mask=scanned_mask(scan)[:h, :w])["nrmse"]


def test_frame_follows_from_the_positions_and_the_probe(measured):
    scan, data = measured
    h, w = data.object_shape
    n = data.patch_size
    assert (
        h >= np.floor(data.ycoords.max() - n / 2) + n
        and w >= np.floor(data.xcoords.max() - n / 2) + n
    )
    result = reconstruct_iterative(data, options=IterativeOptions(method="epie", iterations=2))
    assert tuple(result.object.shape) == (h, w)


@pytest.mark.parametrize("method", ["rpie", "lsqml"])
def test_probe_power_is_matched_to_the_data(measured, method):
    scan, data = measured
    options = IterativeOptions(method=method, iterations=40, batch_size=16)
    matched = reconstruct_iterative(data, options=options)
    # The matched probe's far field carries the data's mean power per pattern (Parseval).
    power = float(np.square(data.diffraction.astype(np.float64)).sum(axis=(1, 2)).mean())
    probe_power = float(far_field(matched.probe, centred=False).abs().square().sum())
    assert probe_power == pytest.approx(power, rel=0.05)
    as_given = reconstruct_iterative(
        data, options=options.model_copy(update={"probe_power": "given"})
    )
    good = _nrmse(matched, scan)
    assert good < 0.05 and _nrmse(as_given, scan) > 2 * good
    # Explicit "data" equals "auto" here (no ground truth, no warm start).
    explicit = reconstruct_iterative(
        data, options=options.model_copy(update={"probe_power": "data"})
    )
    torch.testing.assert_close(explicit.object, matched.object)


def test_an_estimated_probe_refines_to_the_object():
    """No probe in the file: the importer's estimate (back-propagated RMS pattern, the data's
    power) refined with the object recovers it on a well-overlapped scan (step 4 px: 0.015
    NRMSE after ramp removal, measured; 0.08 at step 5)."""
    from ptycho_nl.data.importers.geometry import estimate_probe

    scan = make_scan(side=64, step=4)
    probe = estimate_probe(np.asarray(scan.diffraction))
    start = dataclasses.replace(scan, object=None, patches=None, probe=probe)
    options = IterativeOptions(method="rpie", iterations=100, batch_size=16, update_probe=True)
    result = reconstruct_iterative(start, options=options)
    h = min(result.object.shape[0], scan.object.shape[0])
    w = min(result.object.shape[1], scan.object.shape[1])
    metrics = compute_metrics(
        result.object.numpy()[:h, :w], scan.object[:h, :w], mask=scanned_mask(scan)[:h, :w]
    )
    assert metrics["nrmse_ramp_removed"] < 0.05, metrics
