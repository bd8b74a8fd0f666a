"""Incoherent probe modes (mixed states): initial modes, orthogonalisation, powers.

Axis legend: K modes, N probe side. A partially coherent beam is modelled as K mutually
incoherent modes P_k: the measured intensity is the sum of the modes' intensities,
I = sum_k |F(P_k O)|^2 (P. Thibault & A. Menzel, Nature 494, 68 (2013)). The set of modes is
defined only up to a unitary K x K mixing (it leaves sum_k P_k P_k^H unchanged), so after each
probe update the modes are replaced by the eigenvectors of that K x K Gram matrix, ordered by
power: the unique orthogonal representative, and the one whose powers are meaningful.
"""

from __future__ import annotations

import torch


def orthogonalise(modes: torch.Tensor) -> torch.Tensor:
    """Orthogonal modes spanning the same coherence function, strongest first: (K, N, N).

    With M the (K, N^2) matrix of modes, G = M M^H = V diag(lambda) V^H; the new modes V^H M
    are orthogonal with powers lambda (sum |P_k|^2 unchanged), sorted in decreasing order."""
    k = modes.shape[0]
    flat = modes.reshape(k, -1)
    gram = (flat @ flat.conj().T).to(torch.complex128)
    _, vectors = torch.linalg.eigh(gram)  # ascending eigenvalues
    mixed = vectors.conj().T.flip(0).to(flat.dtype) @ flat
    return mixed.reshape(modes.shape)


def mode_powers(modes: torch.Tensor) -> list[float]:
    """Each mode's share of the total power sum |P_k|^2 / sum_j |P_j|^2, in mode order."""
    power = modes.abs().square().sum(dim=(-2, -1)).to(torch.float64)
    return (power / power.sum().clamp_min(1e-30)).tolist()


def initial_modes(probe: torch.Tensor, k: int, *, weak: float = 0.2) -> torch.Tensor:
    """K modes from one probe (N, N): mode 0 is the probe, modes 1..K-1 are the probe times
    low-order Hermite-like factors (row, column, row x column, ...) orthogonalised against the
    earlier modes, each carrying `weak` of the first mode's power; the total power equals the
    probe's. K = 1 gives the probe with a mode axis (1, N, N)."""
    if k < 1:
        raise ValueError(f"probe modes: expected K >= 1, found {k}")
    probe = probe.to(torch.complex64)
    if k == 1:
        return probe[None].clone()
    n = probe.shape[-1]
    weight = probe.abs().square()
    total = float(weight.sum())
    axis = torch.arange(n, dtype=torch.float32, device=probe.device)
    r_mean = float((weight.sum(1) * axis).sum()) / total
    c_mean = float((weight.sum(0) * axis).sum()) / total
    width = float((weight * ((axis[:, None] - r_mean) ** 2 + (axis[None] - c_mean) ** 2)).sum())
    width = max((width / total) ** 0.5, 1.0)
    r = ((axis - r_mean) / width)[:, None].expand(n, n)
    c = ((axis - c_mean) / width)[None, :].expand(n, n)
    factors = [r, c, r * c, r * r - 1, c * c - 1]
    modes = [probe]
    for i in range(k - 1):
        factor = factors[i % len(factors)] * (1 + i // len(factors))
        candidate = probe * factor.to(probe.dtype)
        for earlier in modes:  # Gram-Schmidt
            overlap = (earlier.conj() * candidate).sum() / (earlier.abs().square().sum())
            candidate = candidate - overlap * earlier
        scale = (weak * total / float(candidate.abs().square().sum().clamp_min(1e-30))) ** 0.5
        modes.append(candidate * scale)
    stacked = torch.stack(modes)
    # Keep the total power of the given probe: its scale was matched to the data.
    return stacked * (total / float(stacked.abs().square().sum())) ** 0.5
