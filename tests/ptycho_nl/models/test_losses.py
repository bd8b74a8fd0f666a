"""Physics of the training losses, checked against independent direct computations."""

import math

import numpy as np
import pytest
import torch

from ptycho_nl import physics
from ptycho_nl.models import LossContext, build_model
from ptycho_nl.models.pinn import overlap_inconsistency, poisson_deviance, predicted_rate
from ptycho_nl.models.supervised import amplitude_phase_l1

N = 32


def random_object(h=96, w=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    amp = 0.5 + 0.5 * torch.rand(h, w, generator=g)
    phase = (torch.rand(h, w, generator=g) - 0.5) * 2
    return torch.polar(amp, phase).to(torch.complex64)


def gaussian_probe(n=N, sigma=5.0):
    r = torch.arange(n) - n / 2
    rr = r[:, None] ** 2 + r[None, :] ** 2
    return torch.polar(torch.exp(-rr / (2 * sigma**2)), 0.02 * rr).to(torch.complex64)


def test_predicted_rate_matches_a_direct_numpy_computation():
    obj, probe = random_object(), gaussian_probe()
    positions = torch.tensor([[40.0, 40.0], [50.0, 47.0]], dtype=torch.float64)
    patches = physics.extract_patches(obj, positions, N)
    s = 3.7
    rate = predicted_rate(patches, probe, s)
    exit_np = probe.numpy() * patches.numpy()
    direct = s**2 * np.abs(np.fft.fftshift(np.fft.fft2(exit_np, norm="ortho"), axes=(-2, -1))) ** 2
    np.testing.assert_allclose(rate.numpy(), direct, rtol=1e-4, atol=1e-6)
    # Energy (Parseval): total expected counts equal s^2 times the exit-wave energy.
    energy = s**2 * (np.abs(exit_np) ** 2).sum(axis=(-2, -1))
    np.testing.assert_allclose(rate.sum(dim=(-2, -1)).numpy(), energy, rtol=1e-5)


def test_poisson_deviance_is_zero_at_the_data_and_has_the_poisson_gradient():
    g = torch.Generator().manual_seed(1)
    counts = torch.poisson(torch.full((4, 8, 8), 20.0), generator=g)
    assert abs(float(poisson_deviance(counts.clone(), counts))) < 1e-5
    rate = (counts + torch.rand(counts.shape, generator=g) * 5 + 1).requires_grad_(True)
    loss = poisson_deviance(rate, counts)
    assert float(loss.detach()) > 0
    loss.backward()
    expected = (1 - counts / (rate.detach() + 1e-8)) / counts.numel()  # d/dl (l - k log l)
    torch.testing.assert_close(rate.grad, expected, rtol=1e-5, atol=1e-9)


def test_pinn_data_term_prefers_the_true_object():
    obj, probe = random_object(seed=2), gaussian_probe()
    positions = torch.tensor([[40.0, 40.0], [46.0, 52.0], [55.0, 44.0]], dtype=torch.float64)
    truth = physics.extract_patches(obj, positions, N)
    intensities = physics.forward_intensity(obj, probe, positions)
    counts, s = physics.poisson_counts(intensities, 1e5, generator=torch.Generator().manual_seed(0))
    amplitude = physics.counts_to_amplitude(counts, s)
    recovered = physics.amplitude_to_counts(amplitude, s)
    assert torch.equal(recovered, counts)  # counts recovered exactly from stored amplitudes
    flat = torch.ones_like(truth)
    true_term = poisson_deviance(predicted_rate(truth, probe, s), counts.float())
    flat_term = poisson_deviance(predicted_rate(flat, probe, s), counts.float())
    assert float(true_term) < 1.0 < float(flat_term)


def _brute_force_overlap(patches, positions, weight):
    """Independent per-pixel reference: dictionary canvas, explicit loops (small sizes only)."""
    total, wsum = 0.0, 0.0
    for b in range(patches.shape[0]):
        offs = positions[b] - positions[b].min(dim=0).values
        offs = torch.round(offs).long().tolist()
        cells = {}
        for c, (dr, dc) in enumerate(offs):
            for i in range(patches.shape[-1]):
                for j in range(patches.shape[-1]):
                    cells.setdefault((dr + i, dc + j), []).append((c, i, j))
        for members in cells.values():
            ws = [float(weight[i, j]) for _, i, j in members]
            vals = [complex(patches[b, c, i, j]) for c, i, j in members]
            mean = sum(w * v for w, v in zip(ws, vals, strict=True)) / max(sum(ws), 1e-300)
            for w, v in zip(ws, vals, strict=True):
                total += w * abs(v - mean) ** 2
                wsum += w
    return total / wsum


def test_overlap_term_matches_a_brute_force_reference():
    g = torch.Generator().manual_seed(3)
    n = 6
    patches = torch.randn(2, 4, n, n, dtype=torch.complex64, generator=g)
    positions = torch.tensor(
        [[[10, 10], [10, 13], [12, 10], [13, 12]], [[5, 5], [7, 6], [5, 8], [9, 9]]],
        dtype=torch.float64,
    )
    weight = torch.rand(n, n, generator=g)
    value = overlap_inconsistency(patches, positions, weight)
    assert float(value) == pytest.approx(_brute_force_overlap(patches, positions, weight), rel=1e-5)


def test_overlap_term_is_zero_for_patches_of_one_object_and_grows_with_disagreement():
    obj = random_object(seed=4)
    positions = torch.tensor([[40, 40], [40, 47], [46, 41], [47, 48]], dtype=torch.float64)
    patches = physics.extract_patches(obj, positions, N)[None]  # (1, 4, N, N)
    weight = torch.ones(N, N)
    assert float(overlap_inconsistency(patches, positions[None], weight)) < 1e-10
    shifted = patches.clone()
    shifted[0, 1] *= math.e ** (1j * 0.5)  # a constant phase offset on one neighbour
    assert float(overlap_inconsistency(shifted, positions[None], weight)) > 1e-2


def test_pinn_training_loss_adds_the_weighted_overlap_term_for_groups():
    torch.manual_seed(0)
    model = build_model("pinn", n=N)
    probe = gaussian_probe()
    batch = {
        "diffraction": torch.rand(2, 4, N, N) * 0.1,
        "positions": torch.tensor(
            [[[20, 20], [20, 26], [26, 20], [26, 26]]] * 2, dtype=torch.float64
        ),
    }
    off, parts_off = model.training_loss(batch, LossContext(probe, 10.0, overlap_weight=0.0))
    on, parts_on = model.training_loss(batch, LossContext(probe, 10.0, overlap_weight=3.0))
    assert "overlap" not in parts_off and float(parts_on["overlap"]) > 0
    torch.testing.assert_close(on, off + 3.0 * parts_on["overlap"])


def test_supervised_l1_is_zero_at_truth_and_respects_phase_wrapping():
    truth = torch.polar(torch.full((2, 8, 8), 0.8), torch.full((2, 8, 8), 3.0))
    assert float(amplitude_phase_l1(truth, truth)) < 1e-6
    # phase 3.0 vs -3.0 differ by 2*pi - 6 = 0.283 rad across the wrap, not by 6 rad
    other = torch.polar(torch.full((2, 8, 8), 0.7), torch.full((2, 8, 8), -3.0))
    assert float(amplitude_phase_l1(other, truth)) == pytest.approx(
        0.1 + (2 * math.pi - 6), rel=1e-4
    )


def test_supervised_model_requires_ground_truth():
    model = build_model("supervised", n=N)
    with pytest.raises(ValueError, match="ground-truth patches.*'Y'"):
        model.training_loss(
            {"diffraction": torch.rand(1, 1, N, N)}, LossContext(gaussian_probe(), 1.0)
        )


def test_the_poisson_rate_of_incoherent_probe_modes_is_the_sum_of_the_modes_rates():
    import numpy as np

    from ptycho_nl.models.pinn import predicted_rate

    gen = torch.Generator().manual_seed(0)
    patches = torch.randn(5, 16, 16, dtype=torch.complex64, generator=gen)
    modes = torch.randn(3, 16, 16, dtype=torch.complex64, generator=gen)
    mixed = predicted_rate(patches, modes, 2.0)
    # Direct: each mode's far field with numpy's FFT, intensities added (no cross terms).
    direct = sum(
        4.0 * np.abs(np.fft.fftshift(np.fft.fft2(modes[k].numpy() * patches.numpy(), norm="ortho"),
                                     axes=(-2, -1))) ** 2
        for k in range(3)
    )  # fmt: skip
    np.testing.assert_allclose(mixed.numpy(), direct, rtol=1e-4, atol=1e-4)
    # One mode is the coherent rate; gradients reach the patches through every mode.
    torch.testing.assert_close(
        predicted_rate(patches, modes[:1], 2.0), predicted_rate(patches, modes[0], 2.0)
    )
    patches.requires_grad_(True)
    predicted_rate(patches, modes, 2.0).sum().backward()
    assert patches.grad is not None and torch.isfinite(patches.grad.abs()).all()
