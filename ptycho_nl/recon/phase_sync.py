"""Per-patch phase synchronisation of independently predicted patches.

Axis legend: B patches, N patch side, P overlapping pairs.

A single diffraction pattern fixes its object patch only up to a constant phase, so patches
predicted one by one each carry an unknown offset exp(i phi_b). With z_b = exp(i phi_b) o_b the
weighted overlap inner products H_ab = sum_x w_a w_b conj(z_a) z_b = exp(i (phi_b - phi_a)) A_ab,
A_ab >= 0, so H = D A D^H with D = diag(exp(-i phi)) and the leading eigenvector of H is
v_b = exp(-i phi_b) u_b with u > 0 (Perron). Multiplying each patch by v_b / |v_b| removes the
offsets up to one global phase (docs/performance.md, R1-net; the angular-synchronisation idea of
Singer, Appl. Comput. Harmon. Anal. 30, 20 (2011)).
"""

from __future__ import annotations

import numpy as np
import torch

from ptycho_nl import physics

DENSE_LIMIT = 16  # above this many patches use sparse Lanczos (dense eigh is O(B^3))
PAIR_CHUNK = 256
SUPPORT_FLOOR = 1e-6  # weights below this fraction of the peak count as outside the support


def _overlap_pairs(corner: torch.Tensor, max_offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs (a < b) whose integer corners differ by at most `max_offset` on both axes."""
    order = torch.argsort(corner[:, 0])
    rows = corner[order, 0]
    firsts, seconds = [], []
    # Sweep by row so the pair search stays O(B * neighbours) rather than O(B^2) memory.
    for start in range(0, len(order), 1024):
        a = order[start : start + 1024]
        lo = torch.searchsorted(rows, corner[a, 0] - max_offset, right=False)
        hi = torch.searchsorted(rows, corner[a, 0] + max_offset, right=True)
        span = int((hi - lo).max()) if len(a) else 0
        cand = lo[:, None] + torch.arange(span)[None, :]
        valid = cand < hi[:, None]
        cand = order[cand.clamp(max=len(order) - 1)]
        d = (corner[cand] - corner[a][:, None, :]).abs()
        valid &= (d <= max_offset).all(-1) & (cand > a[:, None])
        firsts.append(a[:, None].expand_as(cand)[valid])
        seconds.append(cand[valid])
    return torch.cat(firsts), torch.cat(seconds)


def overlap_matrix_entries(
    patches: torch.Tensor, positions: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted overlap inner products H_ab for overlapping pairs and the diagonal H_aa.

    patches : (B, N, N) complex   positions : (B, 2) float (row, col) centres
    weights : (N, N) real >= 0 (e.g. |P|^2)
    Returns (a (P,) long, b (P,) long, h (P,) complex128, diag (B,) float64).
    Sub-pixel parts are applied to the weighted patches first, so pairs meet on integer offsets.
    """
    n = patches.shape[-1]
    corner, frac = physics.split_positions(positions.cpu(), n)
    wz = patches.to(torch.complex64) * weights.to(patches.device)
    if bool((frac != 0).any()):
        wz = physics.fourier_shift(wz, frac.to(wz.device))
    wz = wz.cpu()
    diag = wz.abs().square().sum(dim=(-2, -1)).to(torch.float64)
    # Pixels outside the weights' support (plus one for the sub-pixel shift) carry nothing:
    # crop to it, which preserves relative offsets and cuts the work by (N / support)^2.
    support = weights.cpu() > SUPPORT_FLOOR * float(weights.max())
    rows = torch.nonzero(support.any(1)).flatten()
    cols = torch.nonzero(support.any(0)).flatten()
    r0, r1 = max(int(rows.min()) - 1, 0), min(int(rows.max()) + 2, n)
    c0, c1 = max(int(cols.min()) - 1, 0), min(int(cols.max()) + 2, n)
    wz = wz[:, r0:r1, c0:c1].contiguous()
    m_r, m_c = r1 - r0, c1 - c0
    a_idx, b_idx = _overlap_pairs(corner, max(m_r, m_c) - 1)
    h = torch.zeros(len(a_idx), dtype=torch.complex128)
    # b's patch with a zero border, flattened so pair windows are gathered with index_select.
    pad = torch.nn.functional.pad(wz, (m_c, m_c, m_r, m_r))  # (B, 3 m_r, 3 m_c)
    pr, pc = pad.shape[-2:]
    flat_pad = pad.reshape(-1)
    off_r = torch.arange(m_r)[:, None] * pc
    off_c = torch.arange(m_c)[None, :]
    for s in range(0, len(a_idx), PAIR_CHUNK):
        a, b = a_idx[s : s + PAIR_CHUNK], b_idx[s : s + PAIR_CHUNK]
        d = corner[a] - corner[b]  # (p, 2): pixel r of a sits at pixel r + d of b
        base = b * (pr * pc) + (m_r + d[:, 0]) * pc + (m_c + d[:, 1])  # (p,)
        index = (base[:, None, None] + off_r + off_c).reshape(-1)
        zb = flat_pad.index_select(0, index).reshape(len(a), m_r, m_c)
        h[s : s + PAIR_CHUNK] = (wz[a].conj() * zb).sum(dim=(-2, -1)).to(torch.complex128)
    return a_idx, b_idx, h, diag


def phase_offsets(
    patches: torch.Tensor, positions: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Unit-modulus corrections (B,) complex64: multiply patch b by the result to synchronise it.

    The global phase is fixed so the corrections average to phase zero.
    """
    bsz = patches.shape[0]
    if bsz == 1:
        return torch.ones(1, dtype=torch.complex64)
    a, b, h, diag = overlap_matrix_entries(patches, positions, weights)
    a_np, b_np, h_np = a.numpy(), b.numpy(), h.numpy()
    rows = np.concatenate([a_np, b_np, np.arange(bsz)])
    cols = np.concatenate([b_np, a_np, np.arange(bsz)])
    vals = np.concatenate([h_np, np.conj(h_np), diag.numpy().astype(np.complex128)])
    if bsz <= DENSE_LIMIT:
        mat = np.zeros((bsz, bsz), dtype=np.complex128)
        np.add.at(mat, (rows, cols), vals)
        v = np.linalg.eigh(mat)[1][:, -1]
    else:
        from scipy.sparse import coo_matrix
        from scipy.sparse.linalg import eigsh

        mat = coo_matrix((vals, (rows, cols)), shape=(bsz, bsz)).tocsr()
        # Lanczos for the largest algebraic eigenvalue; the start vector fixes the result.
        v = eigsh(mat, k=1, which="LA", v0=np.ones(bsz, dtype=np.complex128))[1][:, 0]
    # Patches with no overlap (v = 0) keep their phase.
    unit = np.where(np.abs(v) > 1e-12, v / np.maximum(np.abs(v), 1e-300), 1.0)
    unit *= np.exp(-1j * np.angle(unit.sum()))
    return torch.from_numpy(unit.astype(np.complex64))
