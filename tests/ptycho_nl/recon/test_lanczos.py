"""Lanczos leading eigenvector against numpy's dense Hermitian eigensolver."""

import numpy as np
import torch

from ptycho_nl.recon.lanczos import leading_eigenvector


def _hermitian(size, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))
    return a + a.conj().T


def test_matches_dense_eigh_up_to_a_phase():
    mat = _hermitian(120, 0)
    values, vectors = np.linalg.eigh(mat)
    theta, v = leading_eigenvector(
        lambda x: torch.from_numpy(mat @ x.numpy()), torch.ones(120, dtype=torch.complex128)
    )
    assert abs(theta - values[-1]) < 1e-9 * abs(values[-1])
    overlap = abs(np.vdot(vectors[:, -1], v.numpy()))  # |<u, v>| = 1 for the same unit vector
    assert abs(overlap - 1) < 1e-9
    residual = np.linalg.norm(mat @ v.numpy() - theta * v.numpy())
    assert residual < 1e-8 * abs(theta)


def test_small_krylov_space_gives_the_exact_pair():
    # Rank-one plus nothing: the first step spans the eigenvector, beta = 0 stops it.
    u = np.exp(1j * np.linspace(0, 3, 30))
    mat = 2.5 * np.outer(u, u.conj()) / 30
    theta, v = leading_eigenvector(
        lambda x: torch.from_numpy(mat @ x.numpy()), torch.from_numpy(u * 1.0)
    )
    assert abs(theta - 2.5) < 1e-12
    assert abs(abs(np.vdot(u / np.sqrt(30), v.numpy())) - 1) < 1e-12
