"""Phase synchronisation: overlap inner products agree with a direct canvas computation."""

import numpy as np
import torch
from recon_scans import make_scan

from ptycho_nl import physics
from ptycho_nl.recon.phase_sync import overlap_matrix_entries, phase_offsets


def test_overlap_inner_products_match_canvas_computation():
    data = make_scan(step=7)
    patches = torch.from_numpy(data.patches)
    positions = torch.from_numpy(data.positions)
    weights = torch.from_numpy(data.probe).abs().square()
    a, b, h, diag = overlap_matrix_entries(patches, positions, weights)
    assert len(a) > 0 and bool((a != b).all())
    # Direct: place each weighted patch on its own canvas (the adjoint placement), inner product.
    wz = (patches * weights).to(torch.complex64)
    for k in range(0, len(a), max(len(a) // 12, 1)):
        i, j = int(a[k]), int(b[k])
        ci = physics.scatter_patches(wz[i : i + 1], positions[i : i + 1], (72, 72))
        cj = physics.scatter_patches(wz[j : j + 1], positions[j : j + 1], (72, 72))
        direct = complex(torch.vdot(ci.flatten(), cj.flatten()))
        assert abs(complex(h[k]) - direct) < 1e-3 * abs(float(diag[i]))
    # Pairs farther apart than a patch are not listed; diag is the squared weighted norm.
    corner = np.floor(data.positions - 16).astype(int)
    assert np.all(np.abs(corner[a.numpy()] - corner[b.numpy()]) <= 31)
    np.testing.assert_allclose(diag.numpy(), (wz.abs() ** 2).sum((-2, -1)).numpy(), rtol=1e-4)


def test_offsets_are_unit_modulus_and_undo_known_phases_up_to_one_global_phase():
    data = make_scan()
    phases = torch.linspace(0, 5, data.n_patterns, dtype=torch.float64)
    patches = torch.from_numpy(data.patches) * torch.exp(1j * phases)[:, None, None].to(
        torch.complex64
    )
    weights = torch.from_numpy(data.probe).abs().square()
    fix = phase_offsets(patches, torch.from_numpy(data.positions), weights)
    np.testing.assert_allclose(fix.abs().numpy(), 1, atol=1e-5)
    residual = np.angle(fix.numpy() * np.exp(1j * phases.numpy()))
    residual = np.angle(np.exp(1j * (residual - residual[0])))
    assert np.abs(residual).max() < 1e-3
