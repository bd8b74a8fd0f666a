"""Metrics on known cases: identical images, known shifts, ramps, FRC identities, PSNR formula."""

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from ptycho_nl.evaluate.align import (
    align_to_truth,
    register_shift,
    remove_global_phase,
    remove_phase_ramp,
    shift_image,
)
from ptycho_nl.evaluate.metrics import (
    compute_metrics,
    frc,
    frc_resolution,
    half_bit_threshold,
    ms_ssim,
    psnr,
    ssim,
)


def _object(side=96, seed=0):
    rng = np.random.default_rng(seed)
    amp = 0.5 + gaussian_filter(rng.random((side, side)), 1.5)
    phase = 4 * (gaussian_filter(rng.random((side, side)), 1.5) - 0.5)
    return amp * np.exp(1j * phase)


def test_identical_images_give_ssim_one_zero_error_and_infinite_psnr():
    t = _object()
    m = compute_metrics(t, t)
    assert m["nrmse"] < 1e-12 and m["amplitude_mae"] < 1e-12 and m["phase_mae"] < 1e-12
    assert m["amplitude_ssim"] == pytest.approx(1.0) and m["phase_ssim"] == pytest.approx(1.0)
    assert m["amplitude_ms_ssim"] == pytest.approx(1.0)
    assert math.isinf(m["amplitude_psnr"]) and math.isinf(m["phase_psnr"])
    assert psnr(np.abs(t), np.abs(t), 1.0) == math.inf
    assert m["data_range"]["amplitude"] == pytest.approx(np.ptp(np.abs(t)))


def test_psnr_matches_the_formula_for_a_constant_offset():
    img = np.linspace(0, 2, 100).reshape(10, 10)
    assert psnr(img + 0.1, img, data_range=2.0) == pytest.approx(20 * math.log10(2.0 / 0.1))


def test_ssim_and_ms_ssim_fall_with_noise():
    rng = np.random.default_rng(1)
    t = np.abs(_object())
    noisy = [t + s * rng.standard_normal(t.shape) for s in (0.01, 0.05, 0.2)]
    values = [ssim(x, t, np.ptp(t)) for x in noisy]
    ms_values = [ms_ssim(x, t, np.ptp(t)) for x in noisy]
    assert values[0] > values[1] > values[2] and ms_values[0] > ms_values[1] > ms_values[2]
    assert all(0 < v < 1 for v in values + ms_values)


@pytest.mark.parametrize("shift", [(1.3, -2.7), (-0.45, 0.8), (3.0, 0.25)])
def test_known_sub_pixel_shift_is_recovered(shift):
    t = _object()
    moved = shift_image(t, shift)
    est = register_shift(t, moved)
    assert abs(est[0] + shift[0]) < 0.1 and abs(est[1] + shift[1]) < 0.1
    aligned = align_to_truth(moved * np.exp(0.9j) * 1.7, t)
    assert np.linalg.norm(aligned.recon - t) / np.linalg.norm(t) < 1e-3


def test_global_phase_and_scalar_are_removed():
    t = _object()
    np.testing.assert_allclose(remove_global_phase(t * np.exp(-2.1j), t), t, atol=1e-12)
    m = compute_metrics(2.5 * np.exp(0.7j) * t, t, register=False)
    assert m["nrmse"] < 1e-12
    assert m["global_scalar"]["abs"] == pytest.approx(0.4)


def test_linear_phase_ramp_is_removed():
    t = _object()
    rr, cc = np.indices(t.shape)
    ramped = t * np.exp(1j * (0.3 + 0.02 * rr - 0.015 * cc))
    np.testing.assert_allclose(remove_phase_ramp(ramped, t), t, atol=1e-9)
    m = compute_metrics(ramped, t, register=False)
    assert m["nrmse"] > 0.1 and m["nrmse_ramp_removed"] < 1e-9


def test_nrmse_of_known_additive_noise():
    rng = np.random.default_rng(2)
    t = _object()
    noise = 0.05 * (rng.standard_normal(t.shape) + 1j * rng.standard_normal(t.shape))
    m = compute_metrics(t + noise, t, register=False)
    expected = np.linalg.norm(noise) / np.linalg.norm(t)
    assert m["nrmse"] == pytest.approx(expected, rel=0.02)  # the best scalar shrinks it slightly
    assert m["nrmse"] <= expected


def test_mask_crops_to_the_scanned_region():
    t = _object()
    recon = t.copy()
    recon[:10] = 0  # garbage outside the scanned region must not count
    mask = np.zeros(t.shape, bool)
    mask[20:80, 15:85] = True
    m = compute_metrics(recon, t, mask=mask)
    assert m["region"] == {"rows": [20, 80], "cols": [15, 85]} and m["nrmse"] < 1e-9


def test_frc_of_an_image_with_itself_is_one_everywhere():
    t = _object()
    freqs, curve = frc(t, t)
    assert freqs[0] == 0 and freqs[-1] == pytest.approx(0.5)
    np.testing.assert_allclose(curve, 1.0, atol=1e-12)
    res = frc_resolution(t, t)
    assert res["nyquist_limited"] and res["resolution_px"] == 2.0


def test_frc_of_independent_noise_drops_below_the_half_bit_threshold():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((128, 128)), rng.standard_normal((128, 128))
    _, curve = frc(a, b)
    assert np.abs(curve[5:]).mean() < 0.1
    # A smooth image plus independent noise: correlated at low, not at high frequency.
    t = gaussian_filter(rng.standard_normal((128, 128)), 3)
    res = frc_resolution(t + 0.02 * a, t + 0.02 * b)
    assert not res["nyquist_limited"] and 2 < res["resolution_px"] < 40


def test_half_bit_threshold_known_values():
    assert half_bit_threshold(np.array([1.0]))[0] == pytest.approx(1.0, abs=1e-3)
    assert half_bit_threshold(np.array([1e12]))[0] == pytest.approx(0.2071 / 1.2071, abs=1e-4)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="differs from truth"):
        compute_metrics(np.ones((4, 4), complex), np.ones((4, 5), complex))
