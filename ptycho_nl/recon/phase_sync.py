"""Per-patch phase synchronisation of independently predicted patches.

Axis legend: B patches, N patch side, M cropped support side, P overlapping pairs,
K distinct integer offsets between paired patches.

A single diffraction pattern fixes its object patch only up to a constant phase, so patches
predicted one by one each carry an unknown offset exp(i phi_b). With z_b = exp(i phi_b) o_b the
weighted overlap inner products H_ab = sum_x w_a w_b conj(z_a) z_b = exp(i (phi_b - phi_a)) A_ab,
A_ab >= 0, so H = D A D^H with D = diag(exp(-i phi)) and the leading eigenvector of H is
v_b = exp(-i phi_b) u_b with u > 0 (Perron). Multiplying each patch by v_b / |v_b| removes the
offsets up to one global phase (docs/performance.md, R1-net; the angular-synchronisation idea of
Singer, Appl. Comput. Harmon. Anal. 30, 20 (2011)).

Speed (docs/performance.md, "Network inference speed"): pairs are grouped by their integer
offset (a raster scan has a few hundred distinct offsets for tens of thousands of pairs), so each
class is one batched product over exactly the overlapping window; the sub-pixel shift uses two
1-D ramps; the eigenvector comes from Lanczos in torch (`lanczos.py`). Optionally
(`min_overlap`), pairs whose weights barely overlap are left out, as long as the graph stays as
connected as with every pair.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ptycho_nl import physics
from ptycho_nl.recon.lanczos import leading_eigenvector

DENSE_LIMIT = 16  # above this many patches use sparse Lanczos (dense eigh is O(B^3))
SUPPORT_FLOOR = 1e-6  # weights below this fraction of the peak count as outside the support
# The pair products crop the weighted patches tighter, to weights >= 1e-3 of the peak: on R1 the
# window goes from 44 to 40 pixels, the weight left out holds 4e-5 of sum w, and phase_offsets
# took ~5% less time (docs/performance.md, "Network inference speed").
PRODUCT_FLOOR = 1e-3
# Default pair pruning: none. On R1 leaving out pairs whose weights overlap by less than 1% of
# sum w^2 halves the pairs but moves the phases of noisy patches by ~7e-3 rad (more than the
# 1e-3 rad allowed), and saves less than half the time, since the pairs left out are those with
# the smallest windows (docs/performance.md, "Network inference speed").
MIN_OVERLAP = 0.0


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


def _support_window(weights: torch.Tensor, floor: float = SUPPORT_FLOOR) -> tuple[slice, slice]:
    """Rows and columns where the weights exceed `floor` of their peak, plus one pixel for the
    sub-pixel shift."""
    n = weights.shape[-1]
    support = weights > floor * float(weights.max())
    rows = torch.nonzero(support.any(1)).flatten()
    cols = torch.nonzero(support.any(0)).flatten()
    return (
        slice(max(int(rows.min()) - 1, 0), min(int(rows.max()) + 2, n)),
        slice(max(int(cols.min()) - 1, 0), min(int(cols.max()) + 2, n)),
    )


def weight_overlap(weights: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """sum_x w(x) w(x + d) for each integer offset d, (P,) float64, by one FFT autocorrelation.

    weights : (M_r, M_c) real >= 0   offsets : (P, 2) long with |d| < M on each axis
    """
    m_r, m_c = weights.shape
    spectrum = torch.fft.rfft2(weights.to(torch.float64), s=(2 * m_r, 2 * m_c))
    auto = torch.fft.irfft2(spectrum.abs().square(), s=(2 * m_r, 2 * m_c))
    # Zero padding to twice the size: no wrap-around; negative offsets index from the end.
    return auto[offsets[:, 0], offsets[:, 1]]


def separable_shift(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """`physics.fourier_shift(images, shift)` (same convention, equal to float32 rounding) with
    the two 1-D ramps applied in turn rather than a (B, H, W) ramp built in float64: 3-4x
    faster on R1's 484 x 64 x 64 patches (docs/performance.md, "Network inference speed").

    images : (B, H, W) complex64   shift : (B, 2) float (s_r, s_c) pixels
    """
    h, w = images.shape[-2:]
    shift = shift.to(torch.float64)
    ramps = [
        torch.exp(
            -2j * math.pi * torch.fft.fftfreq(size, dtype=torch.float64) * shift[:, axis, None]
        )
        .to(images.dtype)
        .to(images.device)
        for axis, size in ((0, h), (1, w))
    ]
    spectrum = torch.fft.fft2(images)
    spectrum *= ramps[0][:, :, None]
    spectrum *= ramps[1][:, None, :]
    return torch.fft.ifft2(spectrum)


def _windows(d: int, m: int) -> tuple[slice, slice]:
    """Pixels of a, and of b, that overlap when pixel r of a sits at pixel r + d of b."""
    return slice(max(0, -d), min(m, m - d)), slice(max(0, d), min(m, m + d))


def _class_products(
    wz: torch.Tensor,
    classes: list[tuple[int, int, int, int]],
    a_sorted: torch.Tensor,
    b_sorted: torch.Tensor,
) -> torch.Tensor:
    """sum conj(wz_a) wz_b for the pairs of some offset classes, each (dr, dc, start, stop):
    one batched product over the overlapping window per class, in the pairs' sorted order."""
    m_r, m_c = wz.shape[-2:]
    parts = []
    for dr, dc, start, stop in classes:
        (ra, rb), (ca, cb) = _windows(dr, m_r), _windows(dc, m_c)
        # index_select of the window view copies only the window (2-3x faster than wz[idx]).
        za = wz[:, ra, ca].index_select(0, a_sorted[start:stop]).flatten(1)
        zb = wz[:, rb, cb].index_select(0, b_sorted[start:stop]).flatten(1)
        parts.append(torch.linalg.vecdot(za, zb))  # sum conj(za) zb
    return torch.cat(parts) if parts else torch.zeros(0, dtype=wz.dtype)


def grouped_pair_products(
    wz: torch.Tensor,
    corner: torch.Tensor,
    a_idx: torch.Tensor,
    b_idx: torch.Tensor,
    *,
    threads: int | None = None,
) -> torch.Tensor:
    """h_p = sum_x conj(wz_a(x)) wz_b(x) over the overlap of pair p, (P,) complex64.

    wz : (B, M_r, M_c) complex, patch b's pixel (0, 0) at integer `corner[b]`, (B, 2) long.
    One batched product per distinct offset, over exactly the overlapping window.
    threads : Python threads sharing the classes (default torch.get_num_threads(), so a job
        capped at one thread stays on one core). The products are small, so torch runs each
        on one thread; two threads took R1's from ~90-115 ms to ~50 ms on 2 cores.
    """
    m_r, m_c = wz.shape[-2:]
    h = torch.zeros(len(a_idx), dtype=wz.dtype)
    if len(a_idx) == 0:
        return h
    d = corner[a_idx] - corner[b_idx]  # (P, 2): pixel r of a sits at pixel r + d of b
    # One integer key per offset (|d| < M): a 1-D unique is far cheaper than unique(dim=0).
    span = 2 * max(m_r, m_c) + 1
    keys, cls = torch.unique((d[:, 0] + span) * (2 * span) + d[:, 1] + span, return_inverse=True)
    offsets = torch.stack([keys // (2 * span) - span, keys % (2 * span) - span], -1)
    order = torch.argsort(cls, stable=True)
    a_sorted, b_sorted = a_idx[order], b_idx[order]  # each class a contiguous run
    stops = torch.cumsum(torch.bincount(cls, minlength=len(keys)), 0).tolist()
    starts = [0, *stops[:-1]]
    classes = [
        (dr, dc, start, stop)
        for (dr, dc), start, stop in zip(offsets.tolist(), starts, stops, strict=True)
    ]
    threads = max(1, min(torch.get_num_threads() if threads is None else threads, len(classes)))
    if threads == 1:
        h[order] = _class_products(wz, classes, a_sorted, b_sorted)
        return h
    # Contiguous runs of classes with about equal pair counts, one per thread.
    cut = np.searchsorted(stops, np.arange(1, threads) * len(a_idx) / threads, side="right")
    chunks = np.split(np.arange(len(classes)), cut)
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(
            lambda ids: _class_products(wz, [classes[i] for i in ids], a_sorted, b_sorted),
            chunks,
        )
        h[order] = torch.cat(list(parts))
    return h


def _components(bsz: int, a: np.ndarray, b: np.ndarray) -> int:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(bsz, bsz))
    return int(connected_components(graph, directed=False)[0])


def _prune_pairs(
    a_idx: torch.Tensor,
    b_idx: torch.Tensor,
    corner: torch.Tensor,
    weights: torch.Tensor,
    min_overlap: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop pairs whose weights overlap by less than `min_overlap` of a patch's own; keep all
    pairs instead when that would split the overlap graph into more pieces."""
    if min_overlap <= 0 or len(a_idx) == 0:
        return a_idx, b_idx
    overlap = weight_overlap(weights, corner[a_idx] - corner[b_idx])
    keep = overlap >= min_overlap * float(weights.to(torch.float64).square().sum())
    bsz = int(corner.shape[0])
    a_np, b_np = a_idx.numpy(), b_idx.numpy()
    k_np = keep.numpy()
    if _components(bsz, a_np[k_np], b_np[k_np]) > _components(bsz, a_np, b_np):
        return a_idx, b_idx
    return a_idx[keep], b_idx[keep]


def overlap_matrix_entries(
    patches: torch.Tensor,
    positions: torch.Tensor,
    weights: torch.Tensor,
    *,
    min_overlap: float = 0.0,
    placed: torch.Tensor | None = None,
    support_floor: float = PRODUCT_FLOOR,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted overlap inner products H_ab for overlapping pairs and the diagonal H_aa.

    patches : (B, N, N) complex   positions : (B, 2) float (row, col) centres
    weights : (N, N) real >= 0 (e.g. |P|^2)
    min_overlap : leave out pairs whose weights overlap by less than this fraction of sum w^2
        (0: every pair whose supports meet)
    placed : S_{f_b}(w z_b) (B, N, N) when the caller has it (`operators.adjoint_shift`, as
        the stitch does); else computed here
    support_floor : pixels where the weights are below this fraction of their peak are left
        out of the pair products (not of the diagonal)
    Returns (a (P,) long, b (P,) long, h (P,) complex128, diag (B,) float64).
    Sub-pixel parts are applied to the weighted patches first, so pairs meet on integer offsets.
    """
    n = patches.shape[-1]
    corner, frac = physics.split_positions(positions.cpu(), n)
    if placed is not None:
        wz = placed.to(torch.complex64)
    else:
        wz = patches.to(torch.complex64) * weights.to(patches.device)
        if bool((frac != 0).any()):
            wz = separable_shift(wz, frac)
    wz = wz.cpu()
    diag = wz.abs().square().sum(dim=(-2, -1)).to(torch.float64)
    # Pixels outside the weights' support (plus one for the sub-pixel shift) carry nothing:
    # crop to it, which preserves relative offsets and cuts the work by (N / support)^2.
    rows, cols = _support_window(weights.cpu(), support_floor)
    wz = wz[:, rows, cols].contiguous()
    m_r, m_c = wz.shape[-2:]
    a_idx, b_idx = _overlap_pairs(corner, max(m_r, m_c) - 1)
    cropped = weights.cpu().to(torch.float64)[rows, cols]
    a_idx, b_idx = _prune_pairs(a_idx, b_idx, corner, cropped, min_overlap)
    h = grouped_pair_products(wz, corner, a_idx, b_idx).to(torch.complex128)
    return a_idx, b_idx, h, diag


def phase_offsets(
    patches: torch.Tensor,
    positions: torch.Tensor,
    weights: torch.Tensor,
    *,
    min_overlap: float = MIN_OVERLAP,
    placed: torch.Tensor | None = None,
    support_floor: float = PRODUCT_FLOOR,
) -> torch.Tensor:
    """Unit-modulus corrections (B,) complex64: multiply patch b by the result to synchronise it.

    min_overlap : pair pruning of `overlap_matrix_entries` (0 keeps every overlapping pair).
    placed : the weighted patches already sub-pixel placed (see `overlap_matrix_entries`).
    support_floor : the pair products' crop (see `overlap_matrix_entries`).
    The global phase is fixed so the corrections average to phase zero.
    """
    bsz = patches.shape[0]
    if bsz == 1:
        return torch.ones(1, dtype=torch.complex64)
    a, b, h, diag = overlap_matrix_entries(
        patches,
        positions,
        weights,
        min_overlap=min_overlap,
        placed=placed,
        support_floor=support_floor,
    )
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

        mat = coo_matrix((vals, (rows, cols)), shape=(bsz, bsz)).tocsr()
        # Lanczos for the largest eigenvalue (not ARPACK: see lanczos.py); sparse products in C.
        v = leading_eigenvector(
            lambda x: torch.from_numpy(mat @ x.numpy()),
            torch.ones(bsz, dtype=torch.complex128),
        )[1].numpy()
    # Patches with no overlap (v = 0) keep their phase.
    unit = np.where(np.abs(v) > 1e-12, v / np.maximum(np.abs(v), 1e-300), 1.0)
    unit *= np.exp(-1j * np.angle(unit.sum()))
    return torch.from_numpy(unit.astype(np.complex64))
