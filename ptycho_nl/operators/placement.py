"""Where each scan position's N x N frame sits on the (H, W) object: integer corners, sub-pixel
shift classes and an optional probe box. Pure: nothing here changes after construction.

Axis legend: n positions in the scan, B positions in a batch (`idx`, (B,) long), N frame side,
(h, w) the probe box (the whole frame unless a box is given), H x W object.

A position's frame has top-left t = centre - N/2 = c + f, c integer, f in [0, 1)^2. The sub-pixel
part f is applied by `shift.py` on one of the two factors of the exit wave (`subpixel`):
    "object": psi_b = P * S_{-f}(O[c + j])     the exact forward model of `physics.extract_patches`
    "probe" : psi_b = S_{+f}(P) * O[c + j]      the probe is shifted instead (as tike and pty-chi
              do): the diffraction intensity is the same up to interpolation error, and object
              gather / scatter need no FFT
    "round" : positions rounded to whole pixels (as PtyLab does): no sub-pixel work at all
With `subpixel_steps` Q > 0 ("probe" mode) f is rounded to multiples of 1/Q px (error <= 1/(2Q)
px): positions then share at most Q^2 shift classes, so a changing probe costs one FFT per class.
A probe `box` (r0, c0, h, w) confines the real-space work to the probe's support (modes "probe"
and "round"): frames are cropped to it and the far field sees it zero-padded.
"""

from __future__ import annotations

from typing import Literal

import torch

from ptycho_nl.operators.shift import fourier_ramps

Subpixel = Literal["object", "probe", "round"]


def split_positions(positions: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame top-left corners as integer (B, 2) plus the sub-pixel remainder (B, 2) in [0, 1)."""
    top_left = positions.to(torch.float64) - n / 2.0
    corner = torch.floor(top_left)
    return corner.to(torch.long), (top_left - corner)


def check_positions_inside(positions: torch.Tensor, n: int, shape: tuple[int, int]) -> None:
    """Raise ValueError naming the first scan position whose frame leaves the object."""
    corner, _ = split_positions(positions, n)
    h, w = shape
    bad = (corner[:, 0] < 0) | (corner[:, 1] < 0) | (corner[:, 0] + n > h) | (corner[:, 1] + n > w)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        r, c = positions[i].tolist()
        raise ValueError(
            f"scan position {i} (row {r:.2f}, col {c:.2f}) puts a {n}x{n} patch outside the "
            f"{h}x{w} object; {int(bad.sum())} of {len(bad)} positions are outside"
        )


class ScanPlacement:
    """Positions (n, 2) float (row, col) centres of N x N frames in an (H, W) object."""

    def __init__(
        self,
        positions: torch.Tensor,
        n: int,
        shape: tuple[int, int],
        *,
        subpixel: Subpixel = "object",
        box: tuple[int, int, int, int] | None = None,
        subpixel_steps: int = 0,
        ramp_dtype: torch.dtype = torch.complex64,
    ):
        check_positions_inside(positions, n, shape)
        device = positions.device
        r0, c0, h, w = box if box is not None else (0, 0, n, n)
        if min(r0, c0) < 0 or min(h, w) <= 0 or r0 + h > n or c0 + w > n:
            raise ValueError(f"probe box {box} does not fit the {n}x{n} frame")
        if (h, w) != (n, n) and subpixel == "object":
            raise ValueError(
                "a probe box needs subpixel 'probe' or 'round' (the object mode "
                "shifts whole patches)"
            )
        self.n, self.shape, self.subpixel = n, tuple(shape), subpixel
        self.box, self.h, self.w = (r0, c0, h, w), h, w
        self.boxed = (h, w) != (n, n)
        steps = 1 if subpixel == "round" else subpixel_steps if subpixel == "probe" else 0
        if steps > 0:
            # Sub-pixel parts on a 1/steps grid ("round": whole pixels), shared by many positions.
            top_left = positions.to(torch.float64) - n / 2
            positions = torch.round(top_left * steps) / steps + n / 2
            check_positions_inside(positions, n, shape)
        corner, frac = split_positions(positions, n)
        # Integer top-left corners of each position's box window (n, 2) long.
        self.corner = corner + torch.tensor([r0, c0], device=device)
        rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
        # Flat object index of pixel j of window b is origin_b + window_j (int32: half the memory
        # of int64 at the same index_add_ speed).
        self.origin = (self.corner[:, 0] * shape[1] + self.corner[:, 1]).to(torch.int32)
        self.window = (rows[:, None] * shape[1] + cols[None, :]).reshape(-1).to(torch.int32)
        self.has_frac = bool((frac != 0).any())
        # Shift classes: positions with equal sub-pixel parts share one ramp. Exact shifts: one
        # class per position. Whole-pixel positions: one zero-shift class (no ramps are applied,
        # so none per position are built).
        self.classes_shared = steps > 0
        if self.classes_shared or not self.has_frac:
            frac, self.shift_class = torch.unique(frac, dim=0, return_inverse=True)
        else:
            self.shift_class = torch.arange(len(frac), device=device)
        # S_{-f_c} per class: the object-mode shift of extraction (the probe mode uses its adjoint).
        self.ramps = fourier_ramps(-frac, n, n, dtype=ramp_dtype)  # (classes, N, N)

    def __len__(self) -> int:
        return self.corner.shape[0]

    @property
    def shifts_probe(self) -> bool:
        """True when the probe factor differs per position (sub-pixel "probe" shifts)."""
        return self.subpixel != "object" and self.has_frac

    @property
    def shifts_object(self) -> bool:
        """True when the object factor is Fourier-shifted (exact "object" mode)."""
        return self.subpixel == "object" and self.has_frac

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """The probe box of (..., N, N) images: a view (..., h, w)."""
        r0, c0, h, w = self.box
        return image[..., r0 : r0 + h, c0 : c0 + w]

    def pad(self, values: torch.Tensor) -> torch.Tensor:
        """Adjoint of `crop`: (..., h, w) -> (..., N, N) with zeros outside the box."""
        if not self.boxed:
            return values
        padded = values.new_zeros(*values.shape[:-2], self.n, self.n)
        self.crop(padded).copy_(values)
        return padded

    def ramps_of(self, idx: torch.Tensor) -> torch.Tensor:
        """S_{-f} ramps of the batch's positions (B, N, N)."""
        return self.ramps.index_select(0, self.shift_class.index_select(0, idx))

    def flat_index(self, idx: torch.Tensor) -> torch.Tensor:
        """Flat object indices of the batch's box pixels (B h w,) int32 (for `add`)."""
        return (self.origin.index_select(0, idx)[:, None] + self.window[None, :]).reshape(-1)

    def gather(self, obj: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Integer-placed windows O[c_b + j] over the box: (B, h, w), a copy. Indexing the view
        of all windows copies each one row by row (faster than a flat index_select)."""
        corner = self.corner.index_select(0, idx)
        windows = obj.unfold(-2, self.h, 1).unfold(-2, self.w, 1)
        return windows[..., corner[:, 0], corner[:, 1], :, :]

    def add(
        self,
        canvas: torch.Tensor,
        values: torch.Tensor,
        idx: torch.Tensor,
        *,
        alpha: float = 1.0,
        flat: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """canvas[c_b + j] += alpha values_b in place (the adjoint of `gather`); returns canvas.
        `flat` : `flat_index(idx)` when the caller keeps it. A complex 1-D index_add_ is faster
        than one on the interleaved float view."""
        index = self.flat_index(idx) if flat is None else flat
        canvas.reshape(-1).index_add_(0, index, values.reshape(-1), alpha=alpha)
        return canvas


def support_box(
    probe: torch.Tensor, *, threshold: float = 1e-6, margin: int = 0
) -> tuple[int, int, int, int]:
    """(r0, c0, h, w): the bounding box of the probe pixels with |P|^2 > threshold max |P|^2,
    widened by `margin` pixels on each side (room for a refined probe to grow) and clipped to
    the N x N frame: the `box` of a `ScanPlacement` whose real-space work skips the dark rim."""
    power = probe.abs().square()
    if power.dim() == 3:  # incoherent modes share one box
        power = power.sum(0)
    bright = power > threshold * power.max()
    rows = torch.nonzero(bright.any(dim=1)).flatten()
    cols = torch.nonzero(bright.any(dim=0)).flatten()
    n_rows, n_cols = power.shape
    if len(rows) == 0:
        return 0, 0, n_rows, n_cols
    r0, r1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, n_rows)
    c0, c1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + 1 + margin, n_cols)
    return r0, c0, r1 - r0, c1 - c0
