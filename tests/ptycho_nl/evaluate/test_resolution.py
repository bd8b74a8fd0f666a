"""Resolution without ground truth: half-split FRC (registered, phase-referenced) reaches the
band limit on noiseless data and falls with dose; the data fit matches a direct computation."""

import dataclasses

import numpy as np
import pytest
import torch
from recon_scans import disk_probe
from scipy.ndimage import gaussian_filter

from ptycho_nl import physics
from ptycho_nl.data.types import PtychoData
from ptycho_nl.evaluate.align import shift_image
from ptycho_nl.evaluate.datafit import data_fit
from ptycho_nl.evaluate.resolution import half_split_index, resolution
from ptycho_nl.recon.half_split import reconstruct_half_split
from ptycho_nl.recon.options import IterativeOptions

N, SIDE, STEP = 32, 80, 4


def _rough_object(seed=0):
    """Amplitude and phase with power up to the Nyquist frequency (sigma 0.7 px)."""
    rng = np.random.default_rng(seed)
    a, p = (gaussian_filter(rng.random((SIDE, SIDE)), 0.7) for _ in range(2))
    a, p = ((x - x.min()) / np.ptp(x) for x in (a, p))
    return (0.6 + 0.4 * a) * np.exp(1j * (p - 0.5))


@pytest.fixture(scope="module")
def rough_scan():
    obj = torch.tensor(_rough_object(), dtype=torch.complex64)
    c = torch.arange(N // 2 + 1, SIDE - N // 2, STEP, dtype=torch.float64)
    pos = torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)
    gen = torch.Generator().manual_seed(0)
    pos = pos + torch.rand(pos.shape, generator=gen, dtype=torch.float64) - 0.5
    probe = disk_probe(N, N / 4)
    return obj, probe, pos, physics.forward_intensity(obj, probe, pos)


def _data(rough_scan, dose, *, with_truth=False):
    obj, probe, pos, inten = rough_scan
    if dose is None:
        amp, scale = inten.sqrt(), None
    else:
        counts, scale = physics.poisson_counts(
            inten, dose, generator=torch.Generator().manual_seed(1)
        )
        amp = physics.counts_to_amplitude(counts, scale)
    return PtychoData(
        diffraction=amp.float().numpy(), probe=probe.numpy(), xcoords=pos[:, 1].numpy(),
        ycoords=pos[:, 0].numpy(), object=obj.numpy() if with_truth else None,
        intensity_scale=scale, metadata={"sample_pixel_size_m": 10e-9},
    )  # fmt: skip


def test_half_split_reaches_the_band_limit_noiseless_and_falls_with_dose(rough_scan):
    options = IterativeOptions(method="rpie", iterations=40, batch_size=16)
    found = {}
    for dose in (None, 1e5, 1e3, 1e2):
        split = reconstruct_half_split(_data(rough_scan, dose), options)
        found[dose] = split.record
    clean = found[None]
    assert clean.nyquist_limited and clean.resolution_px == 2.0  # the band limit: Nyquist
    assert clean.resolution_m == pytest.approx(20e-9)
    assert min(clean.curve[1:]) > 0.8
    px = [found[d].resolution_px for d in (None, 1e5, 1e3, 1e2)]
    assert px == sorted(px) and px[-1] > 2 * px[1], px  # coarser as the dose falls
    assert not found[1e3].nyquist_limited


def test_registration_and_phase_reference_are_removed_before_the_frc():
    rng = np.random.default_rng(4)
    a = np.exp(1j * gaussian_filter(rng.standard_normal((64, 64)), 1.0))
    b = shift_image(a, (1.3, -0.6)) * np.exp(1j * 2.0) * 0.7  # shifted, phase and scale off
    region = np.zeros(a.shape, bool)
    region[12:52, 12:52] = True
    record = resolution(a, b, region)
    assert record.shift_px == pytest.approx((-1.3, 0.6), abs=0.02)
    assert record.nyquist_limited and min(record.curve[1:]) > 0.95
    unrelated = resolution(
        a, np.exp(1j * gaussian_filter(rng.standard_normal((64, 64)), 1.0)), region
    )
    assert unrelated.resolution_px > 10


def test_half_split_index_interleaves():
    even, odd = half_split_index(7)
    assert even.tolist() == [0, 2, 4, 6] and odd.tolist() == [1, 3, 5]


def test_data_fit_equals_a_direct_computation(rough_scan):
    data = _data(rough_scan, 1e4)
    obj, probe, pos, _ = rough_scan
    mask = np.ones((N, N), bool)
    mask[5:9, 20:22] = False
    data = dataclasses.replace(data, mask=mask)
    fit = data_fit(data, obj.numpy(), probe.numpy())
    # Direct: pattern 3 at an exact (sub-pixel) position, numpy FFT of the shifted patch.
    b = 3
    s = data.intensity_scale
    top = np.floor(pos[b].numpy() - N / 2).astype(int)
    frac = pos[b].numpy() - N / 2 - top
    big = obj.numpy()[top[0] : top[0] + N + 1, top[1] : top[1] + N + 1]
    shifted = shift_image(np.pad(big, ((0, N - 1), (0, N - 1))), tuple(-frac))[:N, :N]
    psi = np.fft.fftshift(np.fft.fft2(probe.numpy() * shifted, norm="ortho"))
    rate = s**2 * np.abs(psi) ** 2
    k = np.round((s * data.diffraction[b].astype(np.float64)) ** 2)
    term = np.where(k > 0, k * np.log(np.maximum(k, 1e-12) / rate), 0)
    deviance = (2 * (rate - k + term))[mask].mean()
    r = np.abs(np.sqrt(rate) - np.sqrt(k))[mask].sum() / np.sqrt(k)[mask].sum()
    assert fit.deviance[b] == pytest.approx(deviance, rel=2e-2)
    assert fit.r_factor[b] == pytest.approx(r, rel=2e-2)
    # The truth fits to the noise (deviance below 1 per pixel: most pixels hold few counts at
    # 1e4 photons, where the R-factor is noise-dominated); a flat object does not.
    wrong = data_fit(data, np.ones_like(obj.numpy()), probe.numpy())
    assert fit.mean_deviance < 1 and wrong.mean_deviance > 5 * fit.mean_deviance
    assert wrong.mean_r_factor > fit.mean_r_factor
    assert len(fit.deviance) == data.n_patterns
