"""Position correction: per-position refinement of the scan positions during a solver run.

Axis legend: n positions, B positions in a mini-batch, K probe modes, N frame side.

The exit wave of position b is psi_b(j) = P(j) O(t_b + j); to first order a shift d of t_b
changes it by d . g_b with g_b = P grad O (the object's gradient on the frame). Each step's exit
wave update chi_b (psi' - psi for (r)PIE, the LSQML direction) is fitted by least squares,
    d_b = argmin_d sum_k || chi_bk - d_r g_bkr - d_c g_bkc ||^2    (a 2 x 2 system per position),
the gradient approach of pty-chi and of M. Odstrcil et al., Opt. Express 26, 3108 (2018) §5.
Per pass the shifts are scaled by a gain, clipped to a step limit, their mean removed (a common
translation of all positions only translates the object), optionally projected on a global
affine map of the nominal positions, and the positions kept inside the object frame.
"""

from __future__ import annotations

import torch

EPS = 1e-12


def _gradient(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences of (B, N, N) complex frames along rows and columns (wrapping at the
    frame's edge, where the probe is dark). They weigh fine detail less than the exact Fourier
    derivative; in the joint iteration that converged further (docs/measured_data.md)."""
    d_row = (patches.roll(-1, -2) - patches.roll(1, -2)) * 0.5
    d_col = (patches.roll(-1, -1) - patches.roll(1, -1)) * 0.5
    return d_row, d_col


def shift_estimate(patches: torch.Tensor, probes: torch.Tensor, chi: torch.Tensor) -> torch.Tensor:
    """Least-squares position shifts (B, 2) (row, col) pixels that best explain `chi`.

    patches : (B, N, N) object frames O_b   probes : (B, K, N, N) probe factors (or (B, N, N))
    chi : exit-wave updates shaped like the exit waves (B, K, N, N) (or (B, N, N))."""
    if probes.dim() == 3:
        probes, chi = probes[:, None], chi[:, None]
    d_row, d_col = _gradient(patches)
    g_r, g_c = probes * d_row[:, None], probes * d_col[:, None]
    dims = (-3, -2, -1)
    a11 = g_r.abs().square().sum(dims)
    a22 = g_c.abs().square().sum(dims)
    a12 = (g_r.conj() * g_c).real.sum(dims)
    b1 = (g_r.conj() * chi).real.sum(dims)
    b2 = (g_c.conj() * chi).real.sum(dims)
    det = a11 * a22 - a12.square()
    scale = a11 * a22 + EPS
    ok = det > 1e-6 * scale
    d_r = torch.where(ok, (a22 * b1 - a12 * b2) / (det + EPS), b1 / (a11 + EPS))
    d_c = torch.where(ok, (a11 * b2 - a12 * b1) / (det + EPS), b2 / (a22 + EPS))
    return torch.stack((d_r, d_c), dim=-1).to(torch.float64)


def affine_projection(nominal: torch.Tensor, refined: torch.Tensor) -> torch.Tensor:
    """The least-squares affine map of the nominal positions onto the refined ones, applied to
    the nominal positions (n, 2): a scan whose errors are a global scale, shear, rotation or
    drift keeps only those degrees of freedom."""
    design = torch.cat((nominal, torch.ones_like(nominal[:, :1])), dim=1)  # (n, 3)
    solution = torch.linalg.lstsq(design, refined).solution  # (3, 2)
    return design @ solution


class PositionRefiner:
    """Collects the per-step shift estimates of one pass and moves the positions at its end.

    nominal : (n, 2) float64 starting positions (row, col) centres   n_frame : frame side N
    shape : object (H, W)   gain : fraction of the estimated shift applied per pass
    step_limit : the largest move of one position in one pass, pixels
    affine : keep only a global affine map of the nominal positions"""

    def __init__(
        self,
        nominal: torch.Tensor,
        n_frame: int,
        shape: tuple[int, int],
        *,
        gain: float,
        step_limit: float,
        affine: bool,
    ):
        self.nominal = nominal.to(torch.float64).clone()
        self.positions = self.nominal.clone()
        self.n_frame, self.shape = n_frame, shape
        self.gain, self.step_limit, self.affine = gain, step_limit, affine
        self._sum = torch.zeros_like(self.positions)
        self._count = torch.zeros(len(self.positions), dtype=torch.float64, device=nominal.device)

    def record(self, idx: torch.Tensor, shifts: torch.Tensor) -> None:
        """Add one mini-batch's shift estimates (B, 2)."""
        self._sum.index_add_(0, idx, shifts.to(self._sum))
        self._count.index_add_(0, idx, torch.ones_like(shifts[:, 0], dtype=torch.float64))

    def end_pass(self) -> torch.Tensor:
        """Apply the pass's mean shift per position (gain, step limit, mean removed, affine,
        kept inside the object); returns the new positions (n, 2)."""
        seen = self._count > 0
        step = torch.where(seen[:, None], self._sum / self._count.clamp_min(1)[:, None], 0.0)
        step = (step * self.gain).clamp(-self.step_limit, self.step_limit)
        step = step - step[seen].mean(0) if bool(seen.any()) else step
        moved = self.positions + step
        if self.affine:
            moved = affine_projection(self.nominal, moved)
        half = self.n_frame / 2.0
        low = torch.tensor([half, half], dtype=torch.float64, device=moved.device)
        high = torch.tensor(self.shape, dtype=torch.float64, device=moved.device) - half
        self.positions = torch.minimum(torch.maximum(moved, low), high)
        self._sum.zero_()
        self._count.zero_()
        return self.positions
