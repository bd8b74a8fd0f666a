"""Patch extraction Q and its adjoint: a direct computation, the adjoint identity in every mode."""

import math

import pytest
import torch
from adjoint_contract import SHAPE, AdjointContract, N, random_complex
from recon_scans import make_scan

from ptycho_nl.operators import (
    ScanPlacement,
    illumination,
    object_adjoint,
    object_patches,
)

POSITIONS = torch.from_numpy(make_scan().positions)
IDX = torch.arange(0, len(POSITIONS), 3)
BOX = (5, 7, 20, 18)  # (r0, c0, h, w) inside the 32 x 32 frame


def _direct_shift(image: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """x(r - s_r, c - s_c) by explicit DFT matrices (independent of torch.fft)."""
    n = image.shape[-1]
    freq = torch.fft.fftfreq(n, dtype=torch.float64)  # signed: the band-limited interpolant
    j = torch.arange(n, dtype=torch.float64)
    dft = torch.exp(-2j * math.pi * freq[:, None] * j[None, :])  # dft[k, r] = e^{-2 pi i f_k r}
    phase_r = torch.exp(-2j * math.pi * freq * float(s[0]))
    phase_c = torch.exp(-2j * math.pi * freq * float(s[1]))
    spectrum = dft @ image.to(torch.complex128) @ dft.T
    shifted = spectrum * phase_r[:, None] * phase_c[None, :]
    return dft.conj().T @ shifted @ dft.conj() / n**2


def _direct_patches(obj: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """O[t + j] for each position, written out one position at a time."""
    out = []
    for r, c in positions.tolist():
        t_r, t_c = r - N / 2, c - N / 2
        c_r, c_c = math.floor(t_r), math.floor(t_c)
        window = obj[c_r : c_r + N, c_c : c_c + N]
        out.append(_direct_shift(window, torch.tensor([-(t_r - c_r), -(t_c - c_c)])))
    return torch.stack(out).to(obj.dtype)


def test_exact_extraction_equals_a_direct_computation():
    obj = random_complex(SHAPE, 0)
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="object")
    got = object_patches(scan, obj, IDX)
    torch.testing.assert_close(got, _direct_patches(obj, POSITIONS[IDX]), rtol=1e-4, atol=1e-4)


def test_round_mode_extracts_whole_pixel_windows_of_the_rounded_positions():
    obj = random_complex(SHAPE, 1)
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="round")
    rounded = torch.round(POSITIONS - N / 2) + N / 2
    assert not scan.has_frac
    torch.testing.assert_close(object_patches(scan, obj, IDX), _direct_patches(obj, rounded[IDX]))


class TestExactExtraction(AdjointContract):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="object")
    domain_shape, range_shape = SHAPE, (len(IDX), N, N)

    def forward(self, x):
        return object_patches(self.scan, x, IDX)

    def adjoint(self, y):
        return object_adjoint(self.scan, y, IDX)


class TestWholePixelExtractionOnABox(TestExactExtraction):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe", box=BOX)
    range_shape = (len(IDX), BOX[2], BOX[3])


def test_boxed_patches_are_crops_of_the_full_frame():
    obj = random_complex(SHAPE, 2)
    full = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe")
    boxed = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe", box=BOX)
    torch.testing.assert_close(
        object_patches(boxed, obj, IDX), boxed.crop(object_patches(full, obj, IDX))
    )


def test_scaled_adjoint_adds_in_place_with_kept_flat_indices():
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel="probe")
    values, base = random_complex((len(IDX), N, N), 3), random_complex(SHAPE, 4)
    got = object_adjoint(scan, values, IDX, out=base.clone(), alpha=0.25, flat=scan.flat_index(IDX))
    torch.testing.assert_close(got, base + 0.25 * object_adjoint(scan, values, IDX))


@pytest.mark.parametrize("subpixel", ["object", "probe"])
def test_illumination_is_the_adjoint_applied_to_probe_intensities(subpixel):
    scan = ScanPlacement(POSITIONS, N, SHAPE, subpixel=subpixel)
    power = random_complex((N, N), 5).abs().square()
    got = illumination(scan, power, IDX)
    want = object_adjoint(scan, power.to(torch.complex64).expand(len(IDX), N, N), IDX).real
    assert got.dtype == torch.float32 and float(got.min()) >= 0
    torch.testing.assert_close(got, want.clamp(min=0), rtol=1e-4, atol=1e-4)
    # Energy: a shift keeps the sum, so the total is the number of positions times the power.
    assert float(want.sum()) == pytest.approx(len(IDX) * float(power.sum()), rel=1e-4)
    # One shared intensity (its spectrum taken once) equals the same intensity given per position.
    per_position = illumination(scan, power.expand(len(IDX), N, N).clone(), IDX)
    torch.testing.assert_close(got, per_position, rtol=1e-5, atol=1e-5)
