"""The data's per-pattern moments: identities, integration, noise and the coarse correction."""

import math

import numpy as np
import pytest
import torch
from recon_scans import disk_probe, make_scan, scanned_mask, smooth_object
from scipy.ndimage import gaussian_filter

from ptycho_nl import physics
from ptycho_nl.data.types import PtychoData
from ptycho_nl.evaluate.metrics import compute_metrics
from ptycho_nl.operators import far_field, intensity
from ptycho_nl.recon.moments import MomentCorrector, correct_coarse, pattern_moments


def _exit_wave(n=32, seed=0, ramp=(0.0, 0.0)):
    obj = smooth_object(n, seed).numpy().astype(np.complex128)
    y, x = np.mgrid[:n, :n].astype(np.float64)
    obj = obj * np.exp(1j * (ramp[0] * y + ramp[1] * x))
    return disk_probe(n, n / 4).numpy().astype(np.complex128) * obj


def test_the_first_moment_is_the_intensity_weighted_phase_gradient():
    n = 32
    psi = _exit_wave(n)
    pattern = intensity(far_field(torch.from_numpy(psi)))
    total, centre = pattern_moments(pattern[None])
    # Parseval: the zeroth moment is the exit wave's energy.
    assert float(total[0]) == pytest.approx(float(np.sum(np.abs(psi) ** 2)), rel=1e-6)
    # sum_x conj(psi) d psi = i (2 pi / N) sum_q q |Psi_q|^2, the derivative taken in real space
    # as the exact (spectral) derivative of the sampled wave.
    k = np.fft.fftfreq(n) * n
    d_row = np.fft.ifft(2j * np.pi * k[:, None] / n * np.fft.fft(psi, axis=0), axis=0)
    d_col = np.fft.ifft(2j * np.pi * k[None, :] / n * np.fft.fft(psi, axis=1), axis=1)
    energy = np.sum(np.abs(psi) ** 2)
    expected = [n / (2 * np.pi) * np.sum(np.conj(psi) * d).imag / energy for d in (d_row, d_col)]
    np.testing.assert_allclose(centre[0].numpy(), expected, rtol=1e-6, atol=1e-9)


def test_a_phase_ramp_moves_the_centre_by_g_n_over_two_pi():
    n, g = 32, (0.11, -0.07)  # rad per pixel, not a whole number of cycles across the patch
    flat = torch.from_numpy(_exit_wave(n))
    tilted = torch.from_numpy(_exit_wave(n, ramp=g))
    _, c0 = pattern_moments(intensity(far_field(flat))[None])
    _, c1 = pattern_moments(intensity(far_field(tilted))[None])
    np.testing.assert_allclose((c1 - c0)[0].numpy(), np.array(g) * n / (2 * np.pi), rtol=2e-3)


def test_integration_is_exact_for_a_quadratic_field():
    data = make_scan(side=72, step=5)
    corrector = MomentCorrector.for_data(data, data.object.shape)
    r, c = data.positions[:, 0], data.positions[:, 1]
    field = 0.002 * r**2 - 0.003 * r * c + 0.001 * c**2 + 0.05 * r - 0.02 * c
    gradient = np.stack([0.004 * r - 0.003 * c + 0.05, -0.003 * r + 0.002 * c - 0.02], -1)
    # The trapezoid rule along each pair is exact for a quadratic, so least squares is too.
    got = corrector.integrate(gradient)
    np.testing.assert_allclose(got - got.mean(), field - field.mean(), atol=1e-6)


def _noisy(data: PtychoData, dose: float, seed: int = 0) -> PtychoData:
    intensity = torch.as_tensor(np.asarray(data.diffraction)).to(torch.float64).square()
    counts, scale = physics.poisson_counts(
        intensity, dose, generator=torch.Generator().manual_seed(seed)
    )
    return PtychoData(
        diffraction=physics.counts_to_amplitude(counts, scale).numpy(),
        probe=data.probe,
        xcoords=data.xcoords,
        ycoords=data.ycoords,
        object=data.object,
        intensity_scale=scale,
        dose=dose,
    )


def test_the_centre_noise_model_matches_poisson_counting():
    clean = make_scan(side=96, step=3)  # 484 patterns
    noisy = _noisy(clean, 2e3)
    sigma = MomentCorrector.for_data(noisy, clean.object.shape).centre_noise()
    _, exact = pattern_moments(torch.as_tensor(np.asarray(clean.diffraction)).square())
    _, measured = pattern_moments(torch.as_tensor(np.asarray(noisy.diffraction)).square())
    n = clean.patch_size
    z = (measured - exact).to(torch.float64) * 2 * math.pi / n / sigma
    # Standardised errors: mean 0 and unit spread if the model is right (484 x 2 draws).
    assert abs(float(z.mean())) < 0.15
    assert 0.9 < float(z.std()) < 1.1


class _Field:
    """A smooth amplitude gain and phase drift over many probe widths."""

    def __init__(self, side: int):
        y, x = np.mgrid[:side, :side] / side
        self.phase = 1.5 * (np.sin(np.pi * x) * np.cos(np.pi * y) + x)
        self.gain = 1.0 + 0.25 * np.cos(np.pi * y)

    def apply(self, obj: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((obj * self.gain * np.exp(1j * self.phase)).astype(np.complex64))


def _coarse_phase_error(obj, data, mask):
    o = np.asarray(obj)
    a = np.vdot(o[mask], data.object[mask]) / np.vdot(o[mask], o[mask])
    return float(gaussian_filter(np.angle(a * o * np.conj(data.object)), 4)[mask].std())


def test_moment_rounds_remove_a_smooth_drift_from_noiseless_data():
    data = make_scan(side=128, step=5)
    mask = scanned_mask(data)
    start = _Field(128).apply(data.object)
    fixed, outcome = correct_coarse(start, data, 3)
    assert outcome.rounds == 3 and outcome.reason is None
    before, after = (
        compute_metrics(o.numpy(), data.object, mask=mask)["nrmse"] for o in (start, fixed)
    )
    assert after < 0.05 * before  # 0.685 -> 0.017
    assert _coarse_phase_error(fixed, data, mask) < 0.03 * _coarse_phase_error(start, data, mask)
    # Where nothing is scanned the object is unchanged.
    outside = MomentCorrector.for_data(data, (128, 128)).covered
    assert bool((~outside).any()) and torch.equal(fixed[~outside], start[~outside])


def test_no_round_runs_where_the_moments_cannot_be_trusted():
    data = make_scan(side=128, step=5)
    start = _Field(128).apply(data.object)
    sparse = make_scan(side=128, step=9)  # 9 px apart, probe about 16 px across
    out, outcome = correct_coarse(_Field(128).apply(sparse.object), sparse, 2)
    assert outcome.rounds == 0 and "scan spacing" in outcome.reason and outcome.spacing_ratio > 0.4
    assert torch.equal(out, _Field(128).apply(sparse.object))
    out, outcome = correct_coarse(start, _noisy(data, 20.0), 2)
    assert outcome.rounds == 0 and "photon noise" in outcome.reason and outcome.phase_noise > 0.02
    assert torch.equal(out, start)
    # From the truth itself a round can only make the noiseless fit worse: none is kept.
    truth = torch.from_numpy(data.object)
    out, outcome = correct_coarse(truth, data, 2)
    assert outcome.rounds == 0 and "did not lower the misfit" in outcome.reason
    assert torch.equal(out, truth)
    one = PtychoData(
        diffraction=data.diffraction[:1], probe=data.probe, xcoords=data.xcoords[:1],
        ycoords=data.ycoords[:1], object=data.object,
    )  # fmt: skip
    out, outcome = correct_coarse(start, one, 2)
    assert outcome.rounds == 0 and "no two scan positions" in outcome.reason
    assert torch.equal(out, start)
    with pytest.raises(ValueError, match="moment rounds must be >= 0, got -1"):
        correct_coarse(truth, data, -1)


def test_dead_detector_pixels_leave_both_moments_comparable():
    """With a detector mask the measured and the modelled moments leave out the same pixels, so
    the correction still finds the drift (a dead column and a dead 3x3 block off the centre)."""
    data = make_scan(side=128, step=5)
    n = data.patch_size
    valid = np.ones((n, n), bool)
    valid[:, 3] = False
    valid[20:23, 9:12] = False
    masked = PtychoData(
        diffraction=np.where(valid, data.diffraction, 0).astype(np.float32),
        probe=data.probe,
        xcoords=data.xcoords,
        ycoords=data.ycoords,
        object=data.object,
        mask=valid,
    )
    mask = scanned_mask(data)
    start = _Field(128).apply(data.object)
    fixed, outcome = correct_coarse(start, masked, 2)
    assert outcome.rounds == 2
    # As well as without the mask (1.2% of the drift left either way).
    assert _coarse_phase_error(fixed, data, mask) < 0.02 * _coarse_phase_error(start, data, mask)


def test_the_rounds_read_the_data_in_chunks_with_the_same_result(monkeypatch):
    """Positions are modelled and the data read CHUNK at a time (memory stays bounded on large
    scans): a chunk of 7 gives the object that one chunk gives."""
    import ptycho_nl.recon.moments as moments

    data = make_scan(side=128, step=5)
    start = _Field(128).apply(data.object)
    whole, outcome = correct_coarse(start, data, 2)
    monkeypatch.setattr(moments, "CHUNK", 7)
    chunked, chunked_outcome = correct_coarse(start, data, 2)
    assert outcome.rounds == chunked_outcome.rounds == 2
    np.testing.assert_allclose(chunked.numpy(), whole.numpy(), rtol=0, atol=1e-5)
