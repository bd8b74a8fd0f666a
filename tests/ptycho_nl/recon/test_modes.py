"""Mixed-state (incoherent multi-mode) probes: the forward model sums the modes' intensities,
the modes are orthogonalised without changing the beam's coherence, and on partially coherent
data a 3-mode reconstruction beats a single mode and recovers the modes' powers."""

import numpy as np
import pytest
import torch

from ptycho_nl.evaluate.metrics import compute_metrics
from ptycho_nl.operators import ScanPlacement, far_field
from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative
from ptycho_nl.recon.mixed_steps import mixed_pie_step
from ptycho_nl.recon.modes import initial_modes, mode_powers, orthogonalise
from ptycho_nl.recon.solver_cache import Batch, SolverCache
from ptycho_nl.simulate.config import ObjectConfig, ProbeConfig, ScanConfig, SimulationConfig
from ptycho_nl.simulate.dataset import noiseless, simulate
from ptycho_nl.simulate.probes import make_probe, make_probe_modes

POWERS = [0.6, 0.3, 0.1]


def _random(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex64, generator=gen)


def test_orthogonalise_keeps_the_coherence_and_orders_by_power():
    modes = _random((3, 8, 8), 0) * torch.tensor([0.5, 2.0, 1.0])[:, None, None]
    ortho = orthogonalise(modes)
    flat, new = modes.reshape(3, -1).to(torch.complex128), ortho.reshape(3, -1).to(torch.complex128)
    # The mutual intensity sum_k P_k(r) conj(P_k(r')) is what the data see: unchanged.
    torch.testing.assert_close(new.T @ new.conj(), flat.T @ flat.conj(), atol=1e-4, rtol=1e-4)
    gram = new @ new.conj().T
    off = gram - torch.diag(torch.diagonal(gram))
    assert float(off.abs().max()) < 1e-4 * float(gram.abs().max())
    power = torch.diagonal(gram).real
    assert bool((power[:-1] >= power[1:]).all()), power
    assert abs(sum(mode_powers(ortho)) - 1) < 1e-9


def test_initial_modes_start_from_the_probe():
    probe = make_probe(ProbeConfig(size=32, kind="disk"))
    modes = initial_modes(probe, 3)
    assert modes.shape == (3, 32, 32)
    torch.testing.assert_close(
        modes.abs().square().sum(), probe.abs().square().sum(), rtol=1e-5, atol=0
    )
    # Mode 0 is the probe (rescaled), the others orthogonal to it.
    p, m0 = probe.flatten(), modes[0].flatten()
    assert float(torch.vdot(p, m0).abs() / (p.norm() * m0.norm())) > 0.9999
    for k in (1, 2):
        assert float(torch.vdot(m0, modes[k].flatten()).abs()) < 1e-4 * float(m0.norm() ** 2)
    torch.testing.assert_close(initial_modes(probe, 1)[0], probe)


def test_simulated_modes_have_the_requested_powers():
    cfg = ProbeConfig(size=32, kind="disk", modes=3, mode_powers=POWERS)
    modes = make_probe_modes(cfg)
    np.testing.assert_allclose(mode_powers(modes), POWERS, atol=1e-6)
    total = make_probe(cfg).abs().square().sum()
    torch.testing.assert_close(modes.abs().square().sum(), total, rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="mode_powers: expected 3 positive values"):
        ProbeConfig(modes=3, mode_powers=[0.5, 0.5])
    # A coherent probe's record (and so every existing dataset digest) has no mode fields.
    assert "modes" not in ProbeConfig().model_dump(mode="json")


def test_intensity_with_modes_is_the_sum_of_the_modes_intensities():
    """Forward operator and simulation with K modes against a direct numpy computation."""
    modes = _random((3, 16, 16), 1)
    obj = _random((40, 40), 2)
    positions = torch.tensor([[12.0, 12.0], [20.0, 27.0], [25.0, 14.0]], dtype=torch.float64)
    direct = np.zeros((3, 16, 16))
    o, p = obj.numpy(), modes.numpy()
    for b, (r, c) in enumerate(positions.numpy().astype(int) - 8):
        for k in range(3):
            direct[b] += np.abs(np.fft.fft2(p[k] * o[r : r + 16, c : c + 16], norm="ortho")) ** 2
    scan = ScanPlacement(positions, 16, (40, 40), subpixel="probe")
    idx = torch.arange(3)
    from ptycho_nl import operators

    factors = operators.probe_factor(scan, modes, idx)  # (B, K, N, N)
    psi = operators.exit_wave(factors, operators.object_patches(scan, obj, idx))
    model = far_field(psi, centred=False).abs().square().sum(1)
    np.testing.assert_allclose(model.numpy(), direct, rtol=1e-4, atol=1e-4)
    _, simulated = noiseless(obj, modes, positions)  # centred layout
    np.testing.assert_allclose(
        simulated.numpy(), np.fft.fftshift(direct, axes=(-2, -1)), rtol=1e-4, atol=1e-4
    )


def test_mixed_modulus_constraint_sets_the_summed_intensity():
    """After the update, sum_k |F psi'_k|^2 equals the measured A^2 (the mixed-state projection)."""
    modes, obj = _random((2, 16, 16), 3), _random((32, 32), 4)
    positions = torch.tensor([[12.0, 12.0], [18.5, 19.25]], dtype=torch.float64)
    scan = ScanPlacement(positions, 16, (32, 32), subpixel="probe")
    amplitude = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(5)) + 0.1
    batch = Batch(None, torch.arange(2), amplitude)
    step = mixed_pie_step(
        obj.clone(),
        modes.clone(),
        scan,
        batch,
        SolverCache(scan),
        alpha=1.0,
        beta=1.0,
        probe_beta=0.0,
    )
    psi = step.probes * step.patches[:, None]
    updated = far_field(psi + step.chi, centred=False).abs().square().sum(1)
    torch.testing.assert_close(updated, amplitude.square(), rtol=1e-4, atol=1e-4)
    expected = ((far_field(psi, centred=False).abs().square().sum(1).sqrt() - amplitude) ** 2).sum(
        (-2, -1)
    )
    torch.testing.assert_close(step.residual, expected, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def partially_coherent():
    cfg = SimulationConfig(
        probe=ProbeConfig(
            size=32, kind="disk", aperture=0.5, defocus=8.0, modes=3, mode_powers=POWERS
        ),
        object=ObjectConfig(kind="procedural"),
        # Whole-pixel positions: the solver's forward model is then exactly the simulation's.
        scan=ScanConfig(n_positions=100, view="dense", integer_positions=True),
        dose=1e6,
    )
    return simulate(cfg)


def _scanned(data):
    pos = data.positions
    mask = np.zeros(data.object.shape, bool)
    (r0, c0), (r1, c1) = np.ceil(pos.min(0)).astype(int), np.floor(pos.max(0)).astype(int)
    mask[r0 : r1 + 1, c0 : c1 + 1] = True
    return mask


@pytest.mark.slow
def test_mixed_state_beats_a_single_mode_and_recovers_the_powers(partially_coherent):
    data = partially_coherent
    assert data.metadata["probe_mode_powers"] == pytest.approx(POWERS)
    runs = {}
    for k in (1, 3):
        options = IterativeOptions(
            method="epie",
            iterations=150,
            batch_size=16,
            update_probe=True,
            probe_beta=2.0,
            probe_modes=k,
        )
        result = reconstruct_iterative(data, options=options)
        runs[k] = (result, compute_metrics(result.object.numpy(), data.object, mask=_scanned(data)))
    (single, single_m), (mixed, mixed_m) = runs[1], runs[3]
    assert mixed.errors[-1] < 0.5 * single.errors[-1], (mixed.errors[-1], single.errors[-1])
    assert mixed_m["nrmse"] < 0.75 * single_m["nrmse"], (mixed_m["nrmse"], single_m["nrmse"])
    assert mixed.probe_modes.shape == (3, 32, 32) and mixed.probe.shape == (32, 32)
    np.testing.assert_allclose(mixed.mode_powers, POWERS, rtol=0.1)
