"""Leading eigenvector of a Hermitian matrix given only its product: Lanczos with full
reorthogonalisation, in torch.

Axis legend: B the matrix side, K Lanczos steps taken.

Why not scipy's `eigsh` (ARPACK): its many small BLAS calls run on the BLAS library's own
threads, which spin while they wait; on shared cores with 2 threads that cost ~0.3 CPU-seconds
per R1 phase synchronisation against ~10 ms on one thread (docs/performance.md, "Network
inference speed"). Here the vector work is torch's (passive OpenMP waiting, small operations
on one thread) and the matrix product is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal


def leading_eigenvector(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    *,
    tol: float = 1e-12,
    max_steps: int = 500,
) -> tuple[float, torch.Tensor]:
    """(largest eigenvalue, its unit eigenvector (B,)) of the Hermitian matrix behind `matvec`.

    matvec : x (B,) complex128 -> H x (B,) complex128     start : (B,) nonzero start vector
    Stops when the Ritz pair's residual ||H v - theta v|| = beta_K |s_K| is at most
    tol * |theta| (or the Krylov space is exhausted, or after min(B, max_steps) steps).
    """
    start = start.to(torch.complex128)
    size = start.shape[0]
    steps = min(size, max_steps)
    basis = torch.zeros(steps, size, dtype=torch.complex128)
    basis[0] = start / torch.linalg.vector_norm(start)
    alphas: list[float] = []
    betas: list[float] = []
    theta, coeffs = 0.0, torch.ones(1, dtype=torch.float64)
    for k in range(steps):
        w = matvec(basis[k])
        alphas.append(float(torch.vdot(basis[k], w).real))
        # Full reorthogonalisation, twice (the classical "twice is enough"): keeps the basis
        # orthonormal to rounding, so no spurious copies of the leading eigenvalue appear.
        for _ in range(2):
            w = w - basis[: k + 1].T @ (basis[: k + 1].conj() @ w)
        beta = float(torch.linalg.vector_norm(w))
        # Only the largest Ritz pair of the tridiagonal matrix, by LAPACK's tridiagonal solver:
        # ~0.03 ms a step against ~0.1-0.4 ms for a dense eigh (65 steps on R1).
        values, vectors = eigh_tridiagonal(
            np.asarray(alphas), np.asarray(betas), select="i", select_range=(k, k)
        )
        theta, coeffs = float(values[-1]), torch.from_numpy(vectors[:, -1])
        # beta = 0 too: the Krylov space is invariant and the Ritz pair exact.
        if beta * abs(float(coeffs[-1])) <= tol * max(abs(theta), 1e-300) or k + 1 == steps:
            break
        betas.append(beta)
        basis[k + 1] = w / beta
    vector = basis[: len(coeffs)].T @ coeffs.to(torch.complex128)
    return theta, vector / torch.linalg.vector_norm(vector)
