"""The detector mask and background in the network losses (specs/data_contracts.md §6)."""

import numpy as np
import pytest
import torch

from ptycho_nl import physics
from ptycho_nl.models import LossContext, build_model
from ptycho_nl.models.pinn import poisson_deviance

N = 16


def test_masked_deviance_is_the_direct_mean_over_valid_pixels():
    g = torch.Generator().manual_seed(0)
    counts = torch.poisson(torch.full((3, N, N), 30.0), generator=g).double()
    rate = counts + torch.rand(counts.shape, generator=g, dtype=torch.float64) * 4 + 0.5
    mask = torch.rand(N, N, generator=g) > 0.2
    found = float(poisson_deviance(rate, counts, mask))
    r, k, m = rate.numpy(), counts.numpy(), mask.numpy()
    per_pixel = r - k * np.log(r + 1e-8) - (k - k * np.log(k + 1e-8))
    assert found == pytest.approx(per_pixel[:, m].mean(), rel=1e-9)
    assert float(poisson_deviance(rate, counts)) == pytest.approx(per_pixel.mean(), rel=1e-9)


@pytest.mark.parametrize("loss", ["poisson", "amplitude_mae"])
def test_excluded_pixels_do_not_reach_the_loss_or_its_gradient(loss):
    torch.manual_seed(0)
    model = build_model("pinn", n=N)
    c = torch.arange(N) - N / 2
    probe = torch.exp(-(c[:, None] ** 2 + c[None, :] ** 2) / 20).to(torch.complex64)
    amplitude = torch.rand(2, 1, N, N) * 3
    hot = amplitude.clone()
    hot[..., 3, 4] = 1e3  # a hot pixel
    batch = {"positions": torch.zeros(2, 1, 2, dtype=torch.float64)}
    mask = torch.ones(N, N, dtype=torch.bool)
    mask[3, 4] = False

    def loss_of(amp, context):
        model.zero_grad()
        # Same network input for both: only the loss target differs at the excluded pixel.
        model.predict_groups = lambda _amp, _index=None: model.__class__.predict_groups(
            model, amplitude
        )
        value, _ = model.training_loss({**batch, "diffraction": amp}, context)
        value.backward()
        grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
        return float(value.detach()), grads

    masked = LossContext(probe=probe, intensity_scale=2.0, loss=loss, mask=mask)
    plain = LossContext(probe=probe, intensity_scale=2.0, loss=loss)
    clean, g_clean = loss_of(amplitude, masked)
    with_hot, g_hot = loss_of(hot, masked)
    assert with_hot == pytest.approx(clean, rel=1e-6)
    torch.testing.assert_close(g_hot, g_clean)
    assert loss_of(hot, plain)[0] > 2 * loss_of(amplitude, plain)[0]


def test_background_adds_incoherent_counts_to_the_rate():
    torch.manual_seed(1)
    model = build_model("pinn", n=N)
    probe = torch.ones(N, N, dtype=torch.complex64) * 0.1
    amp = torch.rand(1, 1, N, N)
    batch = {"diffraction": amp, "positions": torch.zeros(1, 1, 2, dtype=torch.float64)}
    with torch.no_grad():
        patches = model.predict_groups(amp)
    s, b = 3.0, 0.25
    rate = s**2 * (physics.intensity(physics.far_field(physics.exit_wave(probe, patches))) + b)
    counts = physics.amplitude_to_counts(amp, s).to(rate.dtype)
    expected = float(poisson_deviance(rate, counts))
    context = LossContext(probe=probe, intensity_scale=s, background=torch.tensor(b))
    with torch.no_grad():
        found, _ = model.training_loss(batch, context)
    assert float(found) == pytest.approx(expected, rel=1e-5)
