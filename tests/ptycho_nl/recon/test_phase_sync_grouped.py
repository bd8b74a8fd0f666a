"""Offset-grouped pair products and pair pruning of phase synchronisation, checked against
direct computations written here (padded canvases, plain sums) on jittered scans."""

import numpy as np
import pytest
import torch
from recon_scans import make_scan

from ptycho_nl import physics
from ptycho_nl.recon.phase_sync import (
    PRODUCT_FLOOR,
    SUPPORT_FLOOR,
    _support_window,
    grouped_pair_products,
    overlap_matrix_entries,
    phase_offsets,
    separable_shift,
    weight_overlap,
)


def _direct_products(wz: np.ndarray, corner: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Every pair on its own zero canvas: place both windows at their corners, inner product."""
    m_r, m_c = wz.shape[-2:]
    lo = corner.min(0)
    size = corner.max(0) - lo + np.array([m_r, m_c])
    out = np.empty(len(a), np.complex128)
    for p, (i, j) in enumerate(zip(a, b, strict=True)):
        ci = np.zeros(size, np.complex128)
        cj = np.zeros(size, np.complex128)
        (ri, qi), (rj, qj) = corner[i] - lo, corner[j] - lo
        ci[ri : ri + m_r, qi : qi + m_c] = wz[i]
        cj[rj : rj + m_r, qj : qj + m_c] = wz[j]
        out[p] = np.vdot(ci, cj)
    return out


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_grouped_products_equal_direct_products_for_every_pair(threads):
    rng = np.random.default_rng(1)
    # 40 windows of 9 x 11 at scattered integer corners: many distinct offsets, both signs.
    corner = rng.integers(0, 14, size=(40, 2))
    wz = rng.normal(size=(40, 9, 11)) + 1j * rng.normal(size=(40, 9, 11))
    d = np.abs(corner[:, None, :] - corner[None, :, :])
    a, b = np.nonzero(np.triu((d[..., 0] < 9) & (d[..., 1] < 11), 1))
    got = grouped_pair_products(
        torch.from_numpy(wz.astype(np.complex64)),
        torch.from_numpy(corner),
        torch.from_numpy(a),
        torch.from_numpy(b),
        threads=threads,
    )
    assert len(np.unique(corner[a] - corner[b], axis=0)) > 50
    expected = _direct_products(wz, corner, a, b)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_threads_share_the_classes_without_changing_a_product():
    """Each class is computed once, by one thread, with the same operations: bit-identical."""
    rng = np.random.default_rng(2)
    corner = torch.from_numpy(rng.integers(0, 30, size=(120, 2)))
    wz = torch.from_numpy((rng.normal(size=(120, 12, 12)) + 1j).astype(np.complex64))
    d = (corner[:, None, :] - corner[None, :, :]).abs()
    a, b = torch.nonzero(torch.triu((d < 12).all(-1), 1), as_tuple=True)
    one = grouped_pair_products(wz, corner, a, b, threads=1)
    assert torch.equal(grouped_pair_products(wz, corner, a, b, threads=2), one)
    assert torch.equal(grouped_pair_products(wz, corner, a, b, threads=64), one)


def test_grouped_products_of_no_pairs_are_empty():
    wz = torch.ones(3, 4, 4, dtype=torch.complex64)
    empty = torch.zeros(0, dtype=torch.long)
    assert grouped_pair_products(wz, torch.zeros(3, 2, dtype=torch.long), empty, empty).numel() == 0


def test_weight_overlap_is_the_sum_of_shifted_products():
    rng = np.random.default_rng(2)
    w = rng.random((7, 10))
    offsets = np.array([[0, 0], [3, -4], [-6, 9], [6, -9], [-2, 0], [0, 5]])
    got = weight_overlap(torch.from_numpy(w), torch.from_numpy(offsets)).numpy()
    for (dr, dc), value in zip(offsets, got, strict=True):
        # w(x) w(x + d) summed over the x where both are inside the window
        r = np.arange(max(0, -dr), min(7, 7 - dr))
        c = np.arange(max(0, -dc), min(10, 10 - dc))
        direct = (w[np.ix_(r, c)] * w[np.ix_(r + dr, c + dc)]).sum()
        assert abs(value - direct) < 1e-9 * w.size


def test_pruned_pairs_keep_the_graph_connected_and_the_phases():
    data = make_scan(step=4)
    phases = torch.linspace(0, 6, data.n_patterns, dtype=torch.float64)
    patches = torch.from_numpy(data.patches) * torch.exp(1j * phases)[:, None, None].to(
        torch.complex64
    )
    positions = torch.from_numpy(data.positions)
    weights = torch.from_numpy(data.probe).abs().square()
    a_all, _, _, _ = overlap_matrix_entries(patches, positions, weights)
    a_cut, _, _, _ = overlap_matrix_entries(patches, positions, weights, min_overlap=0.2)
    assert 0 < len(a_cut) < len(a_all) / 2
    full = phase_offsets(patches, positions, weights, min_overlap=0.0).numpy()
    pruned = phase_offsets(patches, positions, weights, min_overlap=0.2).numpy()
    assert np.abs(np.angle(pruned * np.conj(full))).max() < 1e-3


def test_pruning_that_would_split_the_graph_keeps_every_pair():
    # Two 2 x 2 blocks of patches joined only through one weak, far overlap.
    data = make_scan()
    n = data.patch_size
    block = np.array([[0, 0], [0, 4], [4, 0], [4, 4]], float)
    centres = np.concatenate([block, block + [0, n - 10]]) + n / 2 + 2
    weights = torch.from_numpy(data.probe).abs().square()
    patches = torch.ones(len(centres), n, n, dtype=torch.complex64)
    a_all, b_all, _, _ = overlap_matrix_entries(patches, torch.from_numpy(centres), weights)
    a_cut, b_cut, _, _ = overlap_matrix_entries(
        patches, torch.from_numpy(centres), weights, min_overlap=0.5
    )
    # The cross-block pairs overlap by ~0 of sum w^2, the in-block ones by 0.6-0.75: a cut at 0.5
    # alone would leave two pieces, so every pair is kept.
    joins = lambda a, b: bool(((a < 4) & (b >= 4)).any())  # noqa: E731
    assert joins(a_all, b_all)
    assert len(a_cut) == len(a_all) and joins(a_cut, b_cut)


def test_lanczos_phases_equal_the_dense_eigenvector_on_noisy_patches():
    data = make_scan()  # 64 patches: above DENSE_LIMIT, so phase_offsets takes the Lanczos path
    gen = torch.Generator().manual_seed(3)
    noise = torch.randn(data.patches.shape, generator=gen, dtype=torch.complex64)
    patches = torch.from_numpy(data.patches) + 0.3 * noise  # inconsistent, like a network's
    positions = torch.from_numpy(data.positions)
    weights = torch.from_numpy(data.probe).abs().square()
    a, b, h, diag = overlap_matrix_entries(patches, positions, weights)
    mat = np.diag(diag.numpy()).astype(np.complex128)
    mat[a.numpy(), b.numpy()] = h.numpy()
    mat[b.numpy(), a.numpy()] = np.conj(h.numpy())
    v = np.linalg.eigh(mat)[1][:, -1]
    expected = v / np.abs(v) * np.exp(-1j * np.angle((v / np.abs(v)).sum()))
    got = phase_offsets(patches, positions, weights).numpy()
    assert np.abs(np.angle(got * np.conj(expected))).max() < 1e-5


def test_separable_shift_equals_the_physics_fourier_shift():
    gen = torch.Generator().manual_seed(4)
    images = torch.randn(6, 12, 20, generator=gen, dtype=torch.complex64)
    shift = torch.rand(6, 2, generator=gen, dtype=torch.float64) * 4 - 2
    torch.testing.assert_close(
        separable_shift(images, shift), physics.fourier_shift(images, shift), atol=1e-5, rtol=0
    )


def test_the_products_tighter_crop_costs_no_accuracy_against_the_true_phases():
    # The pair products leave out pixels whose weight is below PRODUCT_FLOOR of the peak. On
    # noisy patches that moves the corrections by a fraction of their own error (~0.004 rad at
    # noise 0.1 against ~0.02), so the test asks what matters: the error against the phases
    # put in is no worse than with products over the whole support (and without noise, tiny).
    data = make_scan(step=4)
    weights = torch.from_numpy(data.probe).abs().square()
    tight, loose = _support_window(weights, PRODUCT_FLOOR), _support_window(weights, SUPPORT_FLOOR)
    assert tight[0].stop - tight[0].start < loose[0].stop - loose[0].start  # it crops here
    positions = torch.from_numpy(data.positions)
    rng = np.random.default_rng(5)
    phases = rng.uniform(0, 2 * np.pi, data.n_patterns)

    def worst_error(patches, floor):
        fix = phase_offsets(patches, positions, weights, support_floor=floor).numpy()
        residual = fix * np.exp(1j * phases)
        residual *= np.conj(residual.mean()) / abs(residual.mean())  # one global phase is free
        return np.abs(np.angle(residual)).max()

    clean = torch.from_numpy(data.patches) * torch.exp(1j * torch.from_numpy(phases))[:, None, None]
    for noise in (0.0, 0.1):
        patches = (clean + noise * torch.randn_like(clean)).to(torch.complex64)
        whole, cropped = worst_error(patches, SUPPORT_FLOOR), worst_error(patches, PRODUCT_FLOOR)
        assert cropped <= 1.1 * whole + 1e-3, (noise, whole, cropped)
