"""The solvers' scan geometry: agrees with physics.extract/scatter and passes adjoint tests."""

import pytest
import torch
from recon_scans import make_scan

from ptycho_nl import physics
from ptycho_nl.recon.geometry import ScanGeometry, support_box


def _setup(subpixel):
    data = make_scan()
    positions = torch.from_numpy(data.positions)
    return data, positions, ScanGeometry(positions, 32, (72, 72), subpixel=subpixel)


def _dot(a, b):
    return complex(torch.vdot(a.flatten().to(torch.complex128), b.flatten().to(torch.complex128)))


def test_object_mode_equals_physics_extract_and_scatter():
    data, positions, geom = _setup("object")
    obj = torch.from_numpy(data.object)
    idx = torch.arange(0, len(positions), 3)
    torch.testing.assert_close(
        geom.object_patches(obj, idx), physics.extract_patches(obj, positions[idx], 32)
    )
    values = torch.randn(
        len(idx), 32, 32, dtype=torch.complex64, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(
        geom.object_adjoint(values, idx),
        physics.scatter_patches(values, positions[idx], (72, 72)),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("subpixel", ["object", "probe"])
def test_adjoints_hold(subpixel):
    _, positions, geom = _setup(subpixel)
    gen = torch.Generator().manual_seed(1)
    idx = torch.arange(len(positions))
    obj = torch.randn(72, 72, dtype=torch.complex64, generator=gen)
    probe = torch.randn(32, 32, dtype=torch.complex64, generator=gen)
    y = torch.randn(len(idx), 32, 32, dtype=torch.complex64, generator=gen)
    lhs = _dot(geom.object_patches(obj, idx), y)
    assert lhs == pytest.approx(_dot(obj, geom.object_adjoint(y, idx)), rel=1e-4)
    lhs = _dot(geom.shift_like_probe(probe, idx), y)
    assert lhs == pytest.approx(_dot(probe, geom.probe_adjoint(y, idx)), rel=1e-4)


def test_probe_mode_diffraction_matches_physics_up_to_interpolation():
    data, positions, geom = _setup("probe")
    obj, probe = torch.from_numpy(data.object), torch.from_numpy(data.probe)
    idx = torch.arange(len(positions))
    ours = physics.intensity(
        physics.far_field(geom.probes(probe, idx) * geom.object_patches(obj, idx))
    )
    exact = physics.forward_intensity(obj, probe, positions)
    assert float((ours - exact).norm() / exact.norm()) < 1e-2
    # The cached shifted probes equal a fresh computation, and an in-place update invalidates them.
    torch.testing.assert_close(geom.probes(probe, idx), geom.shift_like_probe(probe, idx))
    probe.mul_(2)
    torch.testing.assert_close(geom.probes(probe, idx), geom.shift_like_probe(probe, idx))


def test_round_mode_is_the_probe_mode_on_rounded_positions():
    data, positions, geom = _setup("round")
    rounded = torch.round(positions - 16) + 16
    exact = ScanGeometry(rounded, 32, (72, 72), subpixel="object")
    assert not geom.has_frac
    obj = torch.from_numpy(data.object)
    idx = torch.arange(len(positions))
    torch.testing.assert_close(geom.object_patches(obj, idx), exact.object_patches(obj, idx))
    torch.testing.assert_close(
        geom.object_patches(obj, idx), physics.extract_patches(obj, rounded, 32)
    )


@pytest.mark.parametrize("subpixel", ["probe", "round"])
def test_probe_gradient_is_the_probe_adjoint_of_conj_patches_times_residual(subpixel):
    data, positions, geom = _setup(subpixel)
    gen = torch.Generator().manual_seed(2)
    idx = torch.arange(0, len(positions), 2)
    patches = torch.randn(len(idx), 32, 32, dtype=torch.complex64, generator=gen)
    residual = torch.randn(len(idx), 32, 32, dtype=torch.complex64, generator=gen)
    torch.testing.assert_close(
        geom.probe_gradient(patches, residual, idx),
        geom.probe_adjoint(patches.conj() * residual, idx),
        rtol=1e-4,
        atol=1e-4,
    )


def test_memoised_values_follow_the_batch_and_the_probe():
    _, positions, geom = _setup("probe")
    probe = torch.ones(32, 32, dtype=torch.complex64)
    a, b = torch.arange(0, 6), torch.arange(6, 12)
    calls = []

    def compute(tag):
        return lambda: calls.append(tag) or len(calls)

    assert geom.memoised(a, "k", compute("a"), probe=probe) == 1
    assert geom.memoised(b, "k", compute("b"), probe=probe) == 2
    assert geom.memoised(a, "k", compute("a"), probe=probe) == 1  # per batch, reused
    assert geom.memoised(a, "other", compute("a2"), probe=probe) == 3  # a new key recomputes
    nudged = probe * 1.001
    assert geom.memoised(a, "other", compute("a3"), probe=nudged) == 4  # exact: any change
    assert geom.memoised(a, "other", compute("x"), probe=nudged * 1.01, tolerance=0.02) == 4
    assert geom.memoised(a, "other", compute("a4"), probe=nudged * 1.05, tolerance=0.02) == 5
    a.add_(0)  # an in-place change of the index tensor invalidates its memo
    assert geom.memoised(a, "other", compute("a5"), probe=nudged * 1.05, tolerance=0.02) == 6
    same = nudged * 1.2
    assert geom.memoised(a, "other", compute("a6"), probe=same, tolerance=0.02) == 7
    assert geom.memoised(a, "other", compute("x"), probe=same, tolerance=0.02) == 7
    same.mul_(1.5)  # the same tensor changed in place: compared again, and recomputed
    assert geom.memoised(a, "other", compute("a7"), probe=same, tolerance=0.02) == 8
    assert calls == ["a", "b", "a2", "a3", "a4", "a5", "a6", "a7"]


BOX = (5, 7, 20, 18)  # (r0, c0, h, w) inside the 32 x 32 frame


@pytest.mark.parametrize("subpixel", ["probe", "round"])
def test_boxed_operators_are_crops_and_keep_their_adjoints(subpixel):
    data = make_scan()
    positions = torch.from_numpy(data.positions)
    full = ScanGeometry(positions, 32, (72, 72), subpixel=subpixel)
    geom = ScanGeometry(positions, 32, (72, 72), subpixel=subpixel, box=BOX)
    gen = torch.Generator().manual_seed(5)
    idx = torch.arange(len(positions))
    obj = torch.randn(72, 72, dtype=torch.complex64, generator=gen)
    probe = torch.randn(32, 32, dtype=torch.complex64, generator=gen)
    # Patches and probe factors are the box of the full-frame ones.
    torch.testing.assert_close(
        geom.object_patches(obj, idx), geom.crop(full.object_patches(obj, idx))
    )
    torch.testing.assert_close(
        geom.shift_like_probe(probe, idx), geom.crop(full.shift_like_probe(probe, idx))
    )
    # Adjoints: <A x, y> = <x, A^H y> for the object and the probe factor.
    y = torch.randn(len(idx), 20, 18, dtype=torch.complex64, generator=gen)
    lhs = _dot(geom.object_patches(obj, idx), y)
    assert lhs == pytest.approx(_dot(obj, geom.object_adjoint(y, idx)), rel=1e-4)
    lhs = _dot(geom.shift_like_probe(probe, idx), y)
    assert lhs == pytest.approx(_dot(probe, geom.probe_adjoint(y, idx)), rel=1e-4)
    patches = geom.object_patches(obj, idx)
    torch.testing.assert_close(
        geom.probe_gradient(patches, y, idx),
        geom.crop(geom.probe_adjoint(patches.conj() * y, idx)),
        rtol=1e-4,
        atol=1e-3,
    )


def test_a_box_must_fit_the_frame_and_needs_a_probe_side_shift():
    positions = torch.from_numpy(make_scan().positions)
    with pytest.raises(ValueError, match="does not fit"):
        ScanGeometry(positions, 32, (72, 72), box=(20, 0, 20, 10))
    with pytest.raises(ValueError, match="subpixel 'probe' or 'round'"):
        ScanGeometry(positions, 32, (72, 72), subpixel="object", box=BOX)


def test_support_box_bounds_the_probe_and_widens_by_the_margin():
    probe = torch.zeros(32, 32, dtype=torch.complex64)
    probe[10:20, 12:25] = 1
    probe[11, 13] = 1e-4  # inside anyway
    probe[2, 2] = 1e-4  # |P|^2 = 1e-8 of the peak: below the threshold, left out
    assert support_box(probe) == (10, 12, 10, 13)
    assert support_box(probe, margin=4) == (6, 8, 18, 21)
    assert support_box(probe, margin=20) == (0, 0, 32, 32)  # clipped to the frame
    assert support_box(torch.zeros(8, 8)) == (0, 0, 8, 8)


def test_shift_classes_equal_exact_shifts_of_the_quantised_positions():
    data = make_scan()
    positions = torch.from_numpy(data.positions)
    geom = ScanGeometry(positions, 32, (72, 72), subpixel_steps=4)
    quantised = torch.round((positions - 16) * 4) / 4 + 16
    exact = ScanGeometry(quantised, 32, (72, 72))
    assert geom.classes_shared and len(geom.ramp) <= 16 < len(positions)
    assert float((quantised - positions).abs().max()) <= 0.125 + 1e-12
    gen = torch.Generator().manual_seed(7)
    idx = torch.arange(1, len(positions), 2)
    obj = torch.randn(72, 72, dtype=torch.complex64, generator=gen)
    probe = torch.randn(32, 32, dtype=torch.complex64, generator=gen)
    torch.testing.assert_close(geom.object_patches(obj, idx), exact.object_patches(obj, idx))
    torch.testing.assert_close(geom.probes(probe, idx), exact.shift_like_probe(probe, idx))
    torch.testing.assert_close(
        geom.shift_like_probe(probe, idx), exact.shift_like_probe(probe, idx)
    )
    # The per-class adjoint (class sums first, one FFT per class) is the exact adjoint.
    y = torch.randn(len(idx), 32, 32, dtype=torch.complex64, generator=gen)
    torch.testing.assert_close(
        geom.probe_adjoint(y, idx), exact.probe_adjoint(y, idx), rtol=1e-4, atol=1e-4
    )
    lhs = _dot(geom.shift_like_probe(probe, idx), y)
    assert lhs == pytest.approx(_dot(probe, geom.probe_adjoint(y, idx)), rel=1e-4)
