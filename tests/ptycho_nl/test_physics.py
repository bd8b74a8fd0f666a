"""Physics checks: Parseval, adjoints, shifts, counting statistics, agreement with numpy."""

import math

import numpy as np
import pytest
import torch

from ptycho_nl import physics


def _random_object(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    amp = 0.5 + 0.5 * torch.rand(h, w, generator=g)
    phase = torch.rand(h, w, generator=g) * 2 - 1
    return torch.polar(amp, phase).to(torch.complex64)


def _random_probe(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n, generator=g, dtype=torch.complex64)


def test_far_field_conserves_energy_parseval():
    psi = _random_probe(32).expand(5, 32, 32) * _random_object(32, 32)
    energy_in = psi.abs().square().sum(dim=(-2, -1))
    energy_out = physics.intensity(physics.far_field(psi)).sum(dim=(-2, -1))
    torch.testing.assert_close(energy_out, energy_in, rtol=1e-5, atol=0)


def test_back_propagate_inverts_far_field():
    psi = _random_probe(16).unsqueeze(0)
    torch.testing.assert_close(
        physics.back_propagate(physics.far_field(psi)), psi, rtol=1e-5, atol=1e-5
    )


def test_far_field_matches_direct_numpy_dft():
    n = 16
    psi = _random_probe(n).numpy().astype(np.complex128)
    k = np.arange(n)
    dft = np.exp(-2j * np.pi * np.outer(k, k) / n) / math.sqrt(n)
    direct = np.fft.fftshift(dft @ psi @ dft.T)  # an explicit DFT matrix, not numpy's FFT
    ours = physics.far_field(torch.from_numpy(psi).unsqueeze(0))[0].numpy()
    np.testing.assert_allclose(ours, direct, rtol=1e-9, atol=1e-9)


def test_integer_positions_equal_array_slicing():
    obj = _random_object(64, 80)
    n = 16
    positions = torch.tensor([[20.0, 30.0], [8.0, 8.0], [56.0, 72.0]], dtype=torch.float64)
    patches = physics.extract_patches(obj, positions, n)
    for b, (r, c) in enumerate(positions.long().tolist()):
        expected = obj[r - n // 2 : r - n // 2 + n, c - n // 2 : c - n // 2 + n]
        assert torch.equal(patches[b], expected)


def test_integer_fourier_shift_equals_roll():
    img = _random_probe(24).unsqueeze(0)
    shifted = physics.fourier_shift(img, torch.tensor([[3.0, -5.0]]))
    torch.testing.assert_close(
        shifted[0], torch.roll(img[0], shifts=(3, -5), dims=(0, 1)), rtol=1e-5, atol=1e-5
    )


def test_subpixel_shift_round_trips_and_moves_a_smooth_blob():
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    blob = torch.exp(-((y - 30.0) ** 2 + (x - 33.0) ** 2) / (2 * 4.0**2)).to(torch.complex64)[None]
    shift = torch.tensor([[0.37, -1.61]])
    moved = physics.fourier_shift(blob, shift)
    back = physics.fourier_shift(moved, -shift)
    torch.testing.assert_close(back, blob, rtol=1e-5, atol=1e-5)
    # The centroid of the moved blob sits at the shifted place.
    weight = moved[0].abs()
    centroid = ((weight * y).sum() / weight.sum(), (weight * x).sum() / weight.sum())
    assert abs(float(centroid[0]) - 30.37) < 0.02
    assert abs(float(centroid[1]) - 31.39) < 0.02


def test_subpixel_extraction_matches_band_limited_interpolation():
    # A band-limited periodic object: its value at any real position is known in closed form.
    h = w = 64
    y, x = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )

    def field(yy, xx):
        return torch.exp(1j * (2 * math.pi * (3 * yy / h + 2 * xx / w))) + 0.5 * torch.cos(
            2 * math.pi * 5 * xx / w
        )

    obj = field(y, x).to(torch.complex128)
    n = 16
    pos = torch.tensor([[31.3, 29.8]], dtype=torch.float64)
    patch = physics.extract_patches(obj, pos, n)[0]
    # Band-limited sampling is exact only if the patch is a full period; check the interior,
    # where the circular shift of a non-periodic patch causes little leakage, against the truth.
    jj = torch.arange(n, dtype=torch.float64)
    ty, tx = pos[0, 0] - n / 2, pos[0, 1] - n / 2
    truth = field((ty + jj)[:, None], (tx + jj)[None, :])
    err = (patch - truth).abs()[4:-4, 4:-4].max()
    assert float(err) < 0.2


def test_scatter_is_the_adjoint_of_extract():
    obj = _random_object(48, 56, seed=3).to(torch.complex128)
    n = 16
    positions = torch.tensor([[20.3, 18.7], [24.0, 30.5], [30.9, 40.2]], dtype=torch.float64)
    d = torch.randn(3, n, n, dtype=torch.complex128)
    lhs = torch.vdot(physics.extract_patches(obj, positions, n).flatten(), d.flatten())
    rhs = torch.vdot(obj.flatten(), physics.scatter_patches(d, positions, obj.shape).flatten())
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)


def test_positions_outside_the_object_are_rejected_with_the_index():
    obj = _random_object(32, 32)
    with pytest.raises(ValueError, match="scan position 1"):
        physics.extract_patches(obj, torch.tensor([[16.0, 16.0], [30.0, 16.0]]), 16)


def test_poisson_amplitude_in_chunks_is_the_whole_stack_draw():
    # Chunking bounds the float64 temporaries; the generator is consumed in the same order,
    # so the draws are those of one torch.poisson over the whole stack (odd chunk included).
    intensities = torch.rand(203, 16, 16, generator=torch.Generator().manual_seed(1)) * 4
    scale = 3.0
    whole = torch.poisson(
        intensities.double() * scale**2, generator=torch.Generator().manual_seed(7)
    )
    chunked = physics.poisson_amplitude(
        intensities, scale, generator=torch.Generator().manual_seed(7), chunk=50
    )
    assert chunked.dtype == torch.float32
    assert torch.equal(chunked, (whole.sqrt() / scale).float())


def test_poisson_counts_have_the_requested_mean_dose_and_variance():
    probe = _random_probe(32)
    obj = _random_object(96, 96)
    pos = torch.tensor(
        [[r, c] for r in range(24, 73, 8) for c in range(24, 73, 8)], dtype=torch.float64
    )
    intensities = physics.forward_intensity(obj, probe, pos)
    dose = 1e4
    counts, scale = physics.poisson_counts(
        intensities, dose, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(counts, counts.round())
    per_pattern = counts.sum(dim=(-2, -1))
    # Sum of Poisson variables: mean dose, std sqrt(dose) per pattern; the batch mean is within 5 sigma.
    tolerance = 5 * math.sqrt(dose / len(per_pattern))
    assert abs(float(per_pattern.mean()) - dose) < tolerance
    rate = intensities.double() * scale**2
    # Pearson residuals of a Poisson draw have unit variance.
    resid = (counts - rate) / rate.clamp_min(1e-12).sqrt()
    mask = rate > 5
    assert abs(float(resid[mask].var()) - 1.0) < 0.05


def test_stored_amplitudes_recover_the_counts_exactly():
    counts = torch.poisson(
        torch.full((4, 8, 8), 37.5, dtype=torch.float64), generator=torch.Generator().manual_seed(1)
    )
    scale = 12.34
    amp = physics.counts_to_amplitude(counts, scale)
    assert amp.dtype == torch.float32
    assert torch.equal(physics.amplitude_to_counts(amp, scale), counts)


def test_poisson_nll_is_minimised_at_the_true_rate():
    counts = torch.poisson(
        torch.full((2000,), 7.0, dtype=torch.float64), generator=torch.Generator().manual_seed(2)
    )
    rates = torch.linspace(4, 10, 61, dtype=torch.float64)
    nll = torch.stack([physics.poisson_nll(r.expand_as(counts), counts) for r in rates])
    best = float(rates[nll.argmin()])
    assert abs(best - float(counts.mean())) <= 0.1


def test_photon_scale_rejects_non_positive_dose():
    with pytest.raises(ValueError, match="dose"):
        physics.photon_scale(torch.ones(1, 4, 4), 0)


def test_forward_intensity_matches_an_independent_numpy_pipeline():
    n = 16
    obj = _random_object(40, 40, seed=5)
    probe = _random_probe(n, seed=6)
    pos = torch.tensor([[20.0, 21.0], [17.0, 23.0]], dtype=torch.float64)
    ours = physics.forward_intensity(obj, probe, pos).numpy()
    o, p = obj.numpy(), probe.numpy()
    for b, (r, c) in enumerate([(20, 21), (17, 23)]):
        patch = o[r - 8 : r + 8, c - 8 : c + 8]
        far = np.fft.fftshift(np.fft.fft2(p * patch, norm="ortho"))
        np.testing.assert_allclose(ours[b], np.abs(far) ** 2, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA only: the same operators on the GPU"
)
def test_forward_model_on_cuda_matches_cpu():
    obj = _random_object(64, 64)
    probe = _random_probe(16)
    pos = torch.tensor([[30.5, 31.25]], dtype=torch.float64)
    cpu = physics.forward_intensity(obj, probe, pos)
    gpu = physics.forward_intensity(obj.cuda(), probe.cuda(), pos.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)
