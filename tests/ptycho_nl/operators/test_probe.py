"""Probe factor and probe product: shifted-probe physics, adjoints, shift classes, modes."""

import pytest
import torch
from adjoint_contract import SHAPE, AdjointContract, N, random_complex
from recon_scans import make_scan

from ptycho_nl import operators
from ptycho_nl.operators import (
    ScanPlacement,
    exit_wave,
    far_field,
    intensity,
    object_factor_adjoint,
    object_patches,
    probe_factor,
    probe_factor_adjoint,
    probe_gradient,
)

DATA = make_scan()
POSITIONS = torch.from_numpy(DATA.positions)
IDX = torch.arange(1, len(POSITIONS), 2)
BOX = (5, 7, 20, 18)


class TestShiftedProbeFactor(AdjointContract):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe")
    domain_shape, range_shape = (N, N), (len(IDX), N, N)

    def forward(self, x):
        return probe_factor(self.scan, x, IDX)

    def adjoint(self, y):
        return probe_factor_adjoint(self.scan, y, IDX)


class TestProbeFactorOnSharedShiftClasses(TestShiftedProbeFactor):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe", subpixel_steps=4)


class TestProbeFactorOnABox(TestShiftedProbeFactor):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe", box=BOX)
    range_shape = (len(IDX), BOX[2], BOX[3])


class TestUnshiftedProbeFactorOnABox(TestProbeFactorOnABox):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="round", box=BOX)


class TestProbeFactorWithModes(TestShiftedProbeFactor):
    domain_shape, range_shape = (2, N, N), (len(IDX), 2, N, N)


class TestExitWaveInTheObjectFactorWithModes(AdjointContract):
    probes = probe_factor(
        ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe"), random_complex((3, N, N), 7), IDX
    )
    domain_shape, range_shape = (len(IDX), N, N), (len(IDX), 3, N, N)

    def forward(self, x):
        return exit_wave(self.probes, x)

    def adjoint(self, y):
        return object_factor_adjoint(self.probes, y)


def test_probe_mode_diffraction_matches_the_exact_model_up_to_interpolation():
    obj, probe = torch.from_numpy(DATA.object), torch.from_numpy(DATA.probe)
    idx = torch.arange(len(POSITIONS))
    exact = ScanPlacement(POSITIONS, N, SHAPE, subpixel="object")
    shifted = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe")
    want = intensity(far_field(exit_wave(probe, object_patches(exact, obj, idx))))
    got = intensity(
        far_field(exit_wave(probe_factor(shifted, probe, idx), object_patches(shifted, obj, idx)))
    )
    assert float((got - want).norm() / want.norm()) < 1e-2


def test_shift_classes_are_exact_shifts_of_the_quantised_positions():
    classes = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe", subpixel_steps=4)
    quantised = torch.round((POSITIONS - N / 2) * 4) / 4 + N / 2
    exact = ScanPlacement(quantised, N, SHAPE, subpixel="probe")
    assert classes.classes_shared and len(classes.ramps) <= 16 < len(POSITIONS)
    assert float((quantised - POSITIONS).abs().max()) <= 0.125 + 1e-12
    probe = random_complex((N, N), 8)
    torch.testing.assert_close(probe_factor(classes, probe, IDX), probe_factor(exact, probe, IDX))
    per_class = probe_factor(classes, probe, IDX, classes=True)
    torch.testing.assert_close(
        per_class.index_select(0, classes.shift_class[IDX]), probe_factor(exact, probe, IDX)
    )
    y = random_complex((len(IDX), N, N), 9)
    torch.testing.assert_close(
        probe_factor_adjoint(classes, y, IDX),
        probe_factor_adjoint(exact, y, IDX),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("subpixel", ["probe", "round"])
@pytest.mark.parametrize("box", [None, BOX])
def test_fused_probe_gradient_is_the_box_of_the_adjoint(subpixel, box):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel=subpixel, box=box)
    patches = random_complex((len(IDX), scan.h, scan.w), 10)
    residual = random_complex((len(IDX), scan.h, scan.w), 11)
    torch.testing.assert_close(
        probe_gradient(scan, patches, residual, IDX),
        scan.crop(probe_factor_adjoint(scan, patches.conj() * residual, IDX)),
        rtol=1e-4,
        atol=1e-3,
    )


def test_boxed_probe_factors_are_crops_of_the_full_frame():
    full = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe")
    boxed = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe", box=BOX)
    probe = random_complex((N, N), 12)
    torch.testing.assert_close(
        probe_factor(boxed, probe, IDX), boxed.crop(probe_factor(full, probe, IDX))
    )


def test_incoherent_modes_add_intensities():
    # Two modes: the measured intensity is the sum of the modes' intensities, each mode with the
    # same per-position shift as a single-mode probe.
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe")
    obj = torch.from_numpy(DATA.object)
    modes = random_complex((2, N, N), 13)
    patches = object_patches(scan, obj, IDX)
    both = intensity(far_field(exit_wave(probe_factor(scan, modes, IDX), patches))).sum(1)
    each = sum(intensity(far_field(exit_wave(probe_factor(scan, m, IDX), patches))) for m in modes)
    torch.testing.assert_close(both, each, rtol=1e-4, atol=1e-4)
    assert operators.support_box(modes) == (0, 0, N, N)
