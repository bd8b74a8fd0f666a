"""The optimised (r)PIE step equals a direct computation with `ptycho_nl.physics`."""

import pytest
import torch
from recon_scans import make_scan

from ptycho_nl import operators, physics
from ptycho_nl.operators import ScanPlacement, support_box
from ptycho_nl.recon.pie import exit_wave_update, pie_step
from ptycho_nl.recon.solver_cache import Batch, SolverCache

N, SHAPE = 32, (72, 72)


def _random(shape, seed, dtype=torch.complex64):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_exit_wave_update_is_the_fourier_modulus_projection():
    psi = _random((5, N, N), 0)
    amplitude = _random((5, N, N), 1, torch.float32).abs()
    before = psi.clone()
    dpsi, residual = exit_wave_update(psi, torch.fft.ifftshift(amplitude, dim=(-2, -1)))
    # Direct: project in the centred far field of physics.far_field, keep the phase.
    far = physics.far_field(psi)
    projected = physics.back_propagate(amplitude * torch.exp(1j * far.angle()))
    torch.testing.assert_close(dpsi, projected - psi, rtol=1e-4, atol=1e-5)
    direct = (far.abs() - amplitude).square().sum(dim=(-2, -1))
    torch.testing.assert_close(residual, direct, rtol=1e-4, atol=1e-4)
    assert torch.equal(psi, before)


def _direct_step(obj, probe, positions, amplitude, alpha, beta, probe_beta):
    """(r)PIE written out with physics.extract/scatter_patches (integer positions)."""
    patches = physics.extract_patches(obj, positions, N)
    psi = probe * patches
    far = physics.far_field(psi)
    dpsi = physics.back_propagate(amplitude * torch.exp(1j * far.angle())) - psi
    num = physics.scatter_patches(probe.conj() * dpsi, positions, SHAPE)
    illum = physics.scatter_patches(
        (probe.abs() ** 2).to(torch.complex64).expand(len(positions), N, N), positions, SHAPE
    ).real
    new_obj = obj + beta * num / ((1 - alpha) * illum + alpha * illum.max())
    o2 = (patches.abs() ** 2).sum(0)
    grad = (patches.conj() * dpsi).sum(0)
    new_probe = probe + probe_beta * grad / ((1 - alpha) * o2 + alpha * o2.max())
    return new_obj, new_probe, (far.abs() - amplitude).square().sum(dim=(-2, -1))


@pytest.mark.parametrize("alpha", [1.0, 0.3])
@pytest.mark.parametrize("probe_beta", [0.0, 0.7])
def test_pie_step_equals_direct_update(alpha, probe_beta):
    data = make_scan()
    positions = torch.from_numpy(data.positions).round()  # integer: both subpixel modes agree
    idx = torch.tensor([0, 3, 4, 9, 10])
    obj = torch.from_numpy(data.object) * (1 + 0.1 * _random(SHAPE, 2))
    probe = torch.from_numpy(data.probe).clone()
    amplitude = torch.from_numpy(data.diffraction[idx.numpy()])
    want_obj, want_probe, want_res = _direct_step(
        obj, probe, positions[idx], amplitude, alpha, 0.8, probe_beta
    )
    scan = ScanPlacement(positions, N, SHAPE, subpixel="probe")
    got_obj = obj.clone()
    residual = pie_step(
        got_obj,
        probe,
        scan,
        Batch(0, idx, torch.fft.ifftshift(amplitude, dim=(-2, -1))),
        SolverCache(scan),
        alpha=alpha,
        beta=0.8,
        probe_beta=probe_beta,
    )
    torch.testing.assert_close(got_obj, want_obj, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(probe, want_probe, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(residual, want_res, rtol=1e-4, atol=1e-4)


def test_cached_probe_intensity_tracks_probe_generations():
    data = make_scan()
    positions = torch.from_numpy(data.positions)  # sub-pixel: shifted, cached probes
    scan = ScanPlacement(positions, N, SHAPE, subpixel="probe")
    cache = SolverCache(scan)
    probe = torch.from_numpy(data.probe).clone()
    idx = torch.arange(0, len(positions), 2)
    for _ in range(3):  # the second call builds the cache, the third reads it
        probes = cache.probe_factor(probe, idx)
        got = cache.probe_intensity(probe, idx, probes)
        torch.testing.assert_close(got, operators.probe_factor(scan, probe, idx).abs().square())
    probe.mul_(2)  # an update the loop reports: the cache must not be reused
    cache.probe_changed()
    probes = cache.probe_factor(probe, idx)
    got = cache.probe_intensity(probe, idx, probes)
    torch.testing.assert_close(got, operators.probe_factor(scan, probe, idx).abs().square())


def test_scaled_scatter_equals_scaled_adjoint():
    data = make_scan()
    scan = ScanPlacement(torch.from_numpy(data.positions), N, SHAPE, subpixel="probe")
    idx = torch.arange(6)
    values = _random((6, N, N), 3)
    base = _random(SHAPE, 4)
    got = operators.object_adjoint(scan, values, idx, out=base.clone(), alpha=0.25)
    torch.testing.assert_close(got, base + 0.25 * operators.object_adjoint(scan, values, idx))


@pytest.mark.parametrize("alpha", [1.0, 0.4])
def test_a_box_around_the_probe_support_changes_nothing(alpha):
    # Zero the probe outside a box: working on the box only must give the full-frame step.
    data = make_scan()
    probe = torch.from_numpy(data.probe).clone()
    box = support_box(probe, threshold=1e-3)
    r0, c0, h, w = box
    support = torch.zeros(N, N, dtype=torch.bool)
    support[r0 : r0 + h, c0 : c0 + w] = True
    probe = torch.where(support, probe, 0)
    (o_full, p_full, r_full), (o_box, p_box, r_box) = _full_and_boxed_steps(
        data, probe, box, "round", alpha, probe_beta=0.5
    )
    assert h * w < N * N
    torch.testing.assert_close(o_box, o_full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(r_box, r_full, rtol=1e-4, atol=1e-4)
    # The refined probe stays inside its box. Its step there is the full-frame one, but ePIE's
    # normalisation max_j sum_b |O_b(j)|^2 is taken over the box, not the frame: one scalar >= 1.
    assert torch.all(p_box[~support] == 0)
    if alpha == 1:
        ratio = (p_box - probe)[support] / (p_full - probe)[support]
        assert float(ratio.real.min()) >= 1
        torch.testing.assert_close(
            ratio, torch.full_like(ratio, ratio[0].item()), rtol=1e-3, atol=0
        )


def test_a_box_with_sub_pixel_probe_shifts_drops_only_the_interpolation_ringing():
    # A Fourier-shifted probe rings across the whole frame (periodic sinc interpolation, ~1e-3
    # of its peak here); the box crops that ringing, so the step agrees to that level only.
    data = make_scan()
    probe = torch.from_numpy(data.probe).clone()
    (o_full, _, r_full), (o_box, _, r_box) = _full_and_boxed_steps(
        data, probe, support_box(probe), "probe", 1.0, probe_beta=0.0
    )
    torch.testing.assert_close(o_box, o_full, rtol=0, atol=2e-3)
    torch.testing.assert_close(r_box, r_full, rtol=1e-3, atol=1e-6)


def _full_and_boxed_steps(data, probe, box, subpixel, alpha, probe_beta):
    positions = torch.from_numpy(data.positions)
    idx = torch.tensor([1, 2, 7, 8, 12])
    obj = torch.from_numpy(data.object) * (1 + 0.1 * _random(SHAPE, 6))
    amplitude = torch.fft.ifftshift(torch.from_numpy(data.diffraction[idx.numpy()]), dim=(-2, -1))
    results = []
    for scan in (
        ScanPlacement(positions, N, SHAPE, subpixel=subpixel),
        ScanPlacement(positions, N, SHAPE, subpixel=subpixel, box=box),
    ):
        o, p = obj.clone(), probe.clone()
        batch, cache = Batch(0, idx, amplitude), SolverCache(scan)
        res = pie_step(o, p, scan, batch, cache, alpha=alpha, beta=0.9, probe_beta=probe_beta)
        results.append((o, p, res))
    return results
