"""Stitching: exact patches give the object back, placement is sub-pixel exact, weights average."""

import numpy as np
import pytest
import torch
from recon_scans import make_scan, scanned_mask, smooth_object

from ptycho_nl import physics
from ptycho_nl.recon.stitch import stitch_patches


def test_exact_patches_return_the_object_on_the_covered_region():
    data = make_scan()
    truth = torch.from_numpy(data.object)
    positions = torch.from_numpy(data.positions).round()
    weights = torch.from_numpy(data.probe).abs().square()
    patches = physics.extract_patches(truth, positions, 32)
    obj, coverage = stitch_patches(patches, positions, (72, 72), weights=weights)
    mask = scanned_mask(data)
    assert np.abs(obj.numpy() - data.object)[mask].max() < 1e-5
    assert coverage.shape == (72, 72) and float(coverage[mask].min()) > 0
    # Total coverage is the weights' sum times the number of patches (placement conserves mass).
    assert float(coverage.sum()) == pytest.approx(float(weights.sum()) * data.n_patterns, rel=1e-4)


def test_sub_pixel_patches_return_the_object_to_interpolation_accuracy():
    # Sub-pixel patches are Fourier-interpolated within each patch (circularly), so the round
    # trip is exact only up to that interpolation: a few 1e-3 on this smooth object.
    data = make_scan()
    weights = torch.from_numpy(data.probe).abs().square()
    obj, _ = stitch_patches(
        torch.from_numpy(data.patches), torch.from_numpy(data.positions), (72, 72), weights=weights
    )
    assert np.abs(obj.numpy() - data.object)[scanned_mask(data)].max() < 1e-2


def test_single_sub_pixel_patch_lands_where_it_should():
    n = 32
    rr, cc = np.indices((n, n)) - n / 2
    blob = np.exp(-(rr**2 + cc**2) / (2 * 3.0**2))  # centred on the patch centre pixel N/2
    centre = (27.3, 40.6)
    obj, coverage = stitch_patches(
        torch.tensor(blob[None], dtype=torch.complex64),
        torch.tensor([centre], dtype=torch.float64),
        (64, 80),
    )
    img = obj.real.numpy() * (coverage.numpy() > 0.5)
    rows, cols = np.indices(img.shape)
    assert (img * rows).sum() / img.sum() == pytest.approx(centre[0], abs=0.05)
    assert (img * cols).sum() / img.sum() == pytest.approx(centre[1], abs=0.05)
    # The peak value is preserved away from the patch border.
    assert float(obj.real.max()) == pytest.approx(1.0, abs=0.05)


def test_weighted_average_matches_a_direct_loop_on_integer_positions():
    gen = torch.Generator().manual_seed(1)
    n, shape = 8, (20, 24)
    patches = torch.randn(6, n, n, dtype=torch.complex64, generator=gen)
    centres = torch.tensor(
        [[4, 4], [6, 9], [10, 12], [15, 19], [12, 6], [9, 15]], dtype=torch.float64
    )
    weights = torch.rand(n, n, generator=gen) + 0.1
    obj, coverage = stitch_patches(patches, centres, shape, weights=weights)
    num = np.zeros(shape, complex)
    den = np.zeros(shape)
    for z, (r, c) in zip(patches.numpy(), centres.long().tolist(), strict=True):
        num[r - n // 2 : r + n // 2, c - n // 2 : c + n // 2] += weights.numpy() * z
        den[r - n // 2 : r + n // 2, c - n // 2 : c + n // 2] += weights.numpy()
    expected = np.where(den > 0, num / np.where(den > 0, den, 1), 0)
    np.testing.assert_allclose(obj.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(coverage.numpy(), den, atol=1e-5)


def _patches_with_random_phases(data, seed: int):
    """The scan's exact patches, each times its own random constant phase; positions, |P|^2."""
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.exp(1j * 2 * np.pi * torch.rand(data.n_patterns, generator=gen))
    patches = torch.from_numpy(data.patches) * offsets[:, None, None].to(torch.complex64)
    return patches, torch.from_numpy(data.positions), torch.from_numpy(data.probe).abs().square()


def test_phase_sync_removes_per_patch_phase_offsets():
    data = make_scan()
    patches, positions, weights = _patches_with_random_phases(data, seed=5)
    mask = scanned_mask(data)

    def error(obj):
        o, t = obj.numpy()[mask], data.object[mask]
        c = np.vdot(o, t) / np.vdot(o, o)
        return np.linalg.norm(c * o - t) / np.linalg.norm(t)

    plain, _ = stitch_patches(patches, positions, (72, 72), weights=weights)
    synced, _ = stitch_patches(patches, positions, (72, 72), weights=weights, phase_sync=True)
    assert error(plain) > 0.3
    assert error(synced) < 1e-2  # the sub-pixel interpolation floor of the patches


def test_positions_outside_the_object_name_the_position():
    patches = torch.ones(2, 8, 8, dtype=torch.complex64)
    positions = torch.tensor([[5.0, 5.0], [5.0, 30.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="scan position 1 .* outside the 16x16 object"):
        stitch_patches(patches, positions, (16, 16))


def test_shape_mismatches_are_reported():
    with pytest.raises(ValueError, match=r"positions must be \(3, 2\)"):
        stitch_patches(torch.ones(3, 8, 8, dtype=torch.complex64), torch.zeros(2, 2), (16, 16))
    with pytest.raises(ValueError, match=r"weights must be \(8, 8\)"):
        stitch_patches(
            torch.ones(1, 8, 8, dtype=torch.complex64),
            torch.tensor([[8.0, 8.0]]),
            (16, 16),
            weights=torch.ones(4, 4),
        )


def test_smooth_object_helper_is_complex_and_bounded():
    obj = smooth_object(16)
    assert (
        obj.dtype == torch.complex64
        and 0.49 < float(obj.abs().min()) <= float(obj.abs().max()) < 1.01
    )
    assert physics.extract_patches(obj, torch.tensor([[8.0, 8.0]]), 16).shape == (1, 16, 16)


def test_synced_stitch_equals_correcting_the_patches_first_then_stitching():
    """The stitch pairs and adds the same placed patches S_f(w z_b): one shift, same object as
    multiplying each patch by its correction (computed on its own) before a plain stitch."""
    from ptycho_nl.recon.phase_sync import phase_offsets

    data = make_scan()
    patches, positions, weights = _patches_with_random_phases(data, seed=6)
    corrections = phase_offsets(patches, positions, weights)  # its own sub-pixel shift
    first, cov_first = stitch_patches(
        patches * corrections[:, None, None], positions, (72, 72), weights=weights
    )
    clock: dict[str, float] = {}
    synced, cov = stitch_patches(
        patches, positions, (72, 72), weights=weights, phase_sync=True, clock=clock
    )
    # Two sub-pixel shift implementations (1-D ramps in phase sync, the operator's here) agree
    # to float32 rounding; dividing by the coverage amplifies that only where it is small.
    mask = torch.from_numpy(scanned_mask(data))
    peak = float(first.abs().max())
    assert float((synced - first).abs()[mask].max()) < 1e-5 * peak
    assert float((synced - first).abs().max()) < 1e-4 * peak
    torch.testing.assert_close(cov, cov_first)
    assert clock["phase_sync"] > 0
