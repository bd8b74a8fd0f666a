"""Scan geometry for the solvers: precomputed gather indices and sub-pixel Fourier ramps.

Axis legend: n positions in the scan, B positions in a mini-batch (`idx`), N probe side,
H x W object.

Two discretisations of the sub-pixel part f of each position (top-left t = centre - N/2 = c + f,
c integer):
    "object": psi_b = P * S_{-f}(O[c + j])       exactly `physics.extract_patches` (4 extra FFTs
              per step: shift on extraction, inverse shift in the adjoint)
    "probe" : psi_b = S_{+f}(P) * O[c + j]        the probe is shifted instead (as tike and pty-chi
              do); the exit wave differs from the "object" one by a sub-pixel shift, which leaves
              the diffraction intensity unchanged up to interpolation error, and the object
              gather / scatter needs no FFT at all. Shifted probes are cached while P is fixed.
    "round" : positions rounded to whole pixels (as PtyLab does): cheapest, up to 0.5 px of
              model error.
With `subpixel_steps` = Q > 0 the "probe" mode rounds f to multiples of 1/Q px (error <= 1/(2Q)
px): positions then share at most Q^2 shift classes, so a changing probe costs one FFT per class
present instead of one per position, in the forward shift and in the probe gradient alike.
S_s is `physics.fourier_shift` (out(r) = in(r - s)), unitary with adjoint S_{-s}.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from ptycho_nl import physics

FFT_DIMS = (-2, -1)


@dataclass(eq=False)
class _BatchMemo:
    """What a mini-batch needs beyond its indices: kept while its index tensor is unchanged."""

    idx: torch.Tensor
    version: int
    flat: torch.Tensor  # (B N N,) int32 flat object indices
    value: object = None  # see `ScanGeometry.memoised`
    key: object = None
    probe: torch.Tensor | None = None  # the probe `value` was computed with
    probe_ref: Callable[[], object] | None = None  # weak reference to the probe tensor itself
    probe_version: int = -1  # its _version then
    probe_peak: float = 0.0  # max |P| of `probe`


def _nbytes(value: object) -> int:
    return value.numel() * value.element_size() if isinstance(value, torch.Tensor) else 0


class ScanGeometry:
    """Positions (n, 2) float64 (row, col) centres of N x N patches in an (H, W) object."""

    def __init__(
        self,
        positions: torch.Tensor,
        n: int,
        shape: tuple[int, int],
        *,
        subpixel: Literal["object", "probe", "round"] = "probe",
        box: tuple[int, int, int, int] | None = None,
        subpixel_steps: int = 0,
        memo_budget_bytes: int = 64 * 2**20,
    ):
        physics.check_positions_inside(positions, n, shape)
        device = positions.device
        r0, c0, h, w = box if box is not None else (0, 0, n, n)
        if min(r0, c0) < 0 or min(h, w) <= 0 or r0 + h > n or c0 + w > n:
            raise ValueError(f"probe box {box} does not fit the {n}x{n} frame")
        if (h, w) != (n, n) and subpixel == "object":
            raise ValueError(
                "a probe box needs subpixel 'probe' or 'round' (the object mode "
                "shifts whole patches)"
            )
        self.box, self.h, self.w = (r0, c0, h, w), h, w
        self.boxed = (h, w) != (n, n)
        steps = 1 if subpixel == "round" else subpixel_steps if subpixel == "probe" else 0
        if steps > 0:
            # "round": whole-pixel positions (PtyLab's convention), no sub-pixel work at all;
            # otherwise sub-pixel parts on a 1/steps grid, shared by many positions.
            top_left = positions.to(torch.float64) - n / 2
            positions = torch.round(top_left * steps) / steps + n / 2
            physics.check_positions_inside(positions, n, shape)
        corner, frac = physics.split_positions(positions, n)
        self.n, self.shape, self.subpixel = n, tuple(shape), subpixel
        # Integer top-left corners of the box's object window (n, 2) long.
        self.corner = corner + torch.tensor([r0, c0], device=device)
        rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
        # Flat object index of pixel j of patch b is origin_b + window_j (int32: half the memory
        # of int64, same index_add_ speed).
        self._origin = (self.corner[:, 0] * shape[1] + self.corner[:, 1]).to(torch.int32)  # (n,)
        self._window = (rows[:, None] * shape[1] + cols[None, :]).reshape(-1).to(torch.int32)
        self._frames: dict[tuple, torch.Tensor] = {}
        self.has_frac = bool((frac != 0).any())
        # Shift classes: positions with equal sub-pixel parts share one ramp (and one shifted
        # probe). Exact mode: one class per position.
        if steps > 0:
            frac, self.shift_class = torch.unique(frac, dim=0, return_inverse=True)
        else:
            self.shift_class = torch.arange(len(frac), device=device)
        self.classes_shared = steps > 0
        k = torch.fft.fftfreq(n, device=device, dtype=torch.float64)
        # ramp_c(k) = exp(+2 pi i k . f_c): multiplying fft2 by it applies S_{-f_c}.
        ry = torch.exp(2j * math.pi * k[None, :] * frac[:, 0:1])
        rx = torch.exp(2j * math.pi * k[None, :] * frac[:, 1:2])
        self.ramp = (ry[:, :, None] * rx[:, None, :]).to(torch.complex64)  # (classes, N, N)
        self._cache = torch.empty(0)
        self._cache_key: tuple[int, int] | None = None
        self._intensity = torch.empty(0)  # |cached shifted probes|^2 (classes, h, w) float32
        self._intensity_key: tuple[int, int] | None = None
        self._last_key: tuple[int, int] | None = None
        # Per-batch memo keyed by the identity of the batch's index tensor: solvers that reuse
        # fixed mini-batches pay for flat indices and illumination peaks once.
        self._memo: dict[int, _BatchMemo] = {}
        self._memo_bytes = 0
        self.memo_budget_bytes = memo_budget_bytes

    def __len__(self) -> int:
        return self.corner.shape[0]

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """The probe box of (..., N, N) images: a view (..., h, w)."""
        r0, c0, h, w = self.box
        return image[..., r0 : r0 + h, c0 : c0 + w]

    def frame_buffer(self, batch: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A (batch, N, N) zero frame kept per shape: callers write exit waves into its top-left
        (h, w) block only, so the rest stays zero without clearing it every step."""
        key = (batch, dtype, device)
        if key not in self._frames:
            self._frames[key] = torch.zeros(batch, self.n, self.n, dtype=dtype, device=device)
        return self._frames[key]

    def _ramps(self, idx: torch.Tensor) -> torch.Tensor:
        """The batch's Fourier ramps (B, N, N)."""
        return self.ramp.index_select(0, self.shift_class.index_select(0, idx))

    def _shift(self, images: torch.Tensor, idx: torch.Tensor, *, adjoint: bool) -> torch.Tensor:
        ramp = self._ramps(idx)
        ramp = ramp.conj() if adjoint else ramp
        return torch.fft.ifft2(torch.fft.fft2(images, dim=FFT_DIMS) * ramp, dim=FFT_DIMS)

    def _batch(self, idx: torch.Tensor) -> _BatchMemo:
        """The memo of batch `idx` (made on first use; dropped wholesale past the budget)."""
        memo = self._memo.get(id(idx))
        if memo is not None and memo.idx is idx and memo.version == idx._version:
            return memo
        flat = (self._origin.index_select(0, idx)[:, None] + self._window[None, :]).reshape(-1)
        memo = _BatchMemo(idx, idx._version, flat)
        if self._memo_bytes + flat.numel() * flat.element_size() > self.memo_budget_bytes:
            self._memo.clear()
            self._memo_bytes = 0
        self._memo[id(idx)] = memo
        self._memo_bytes += flat.numel() * flat.element_size()
        return memo

    def _flat_index(self, idx: torch.Tensor) -> torch.Tensor:
        """Flat object indices of the batch's pixels (B N N,) int32, memoised per batch."""
        return self._batch(idx).flat

    def gather(self, obj: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Integer-placed patches O[c_b + j] over the probe box: (B, h, w). Indexing the view of all
        windows copies each patch row by row (2x faster than a flat index_select)."""
        corner = self.corner.index_select(0, idx)
        windows = obj.unfold(0, self.h, 1).unfold(1, self.w, 1)
        return windows[corner[:, 0], corner[:, 1]]

    def memoised(
        self,
        idx: torch.Tensor,
        key: object,
        compute: Callable[[], object],
        *,
        probe: torch.Tensor | None = None,
        tolerance: float = 0.0,
    ) -> object:
        """compute(), memoised per batch (one value per batch; a new `key` replaces it).

        A preconditioner that depends only on the batch and the probe is computed once, not every
        pass. Given the `probe` it depends on, the value is recomputed when the probe changed:
        exactly (tolerance 0) or by more than max |P - P_then| > tolerance max |P_then|, which
        bounds the change of any illumination sum sum_b |P_b|^2 to about 2 tolerance of its peak
        (a step-size preconditioner tolerates that; recomputing it every step costs as much as
        the object update's scatter)."""
        memo = self._batch(idx)
        if memo.key == key and self._still_valid(memo, probe, tolerance):
            return memo.value
        value = compute()
        self._memo_bytes += _nbytes(value) - _nbytes(memo.value)  # the old value is released
        memo.value, memo.key = value, key
        memo.probe = None if probe is None else probe.clone()
        memo.probe_ref = None if probe is None else weakref.ref(probe)
        memo.probe_version = -1 if probe is None else probe._version
        memo.probe_peak = 0.0 if probe is None else float(probe.abs().max())
        return value

    @staticmethod
    def _still_valid(memo: _BatchMemo, probe: torch.Tensor | None, tolerance: float) -> bool:
        if probe is None or memo.probe is None:
            return probe is None and memo.probe is None
        if (
            memo.probe_ref is not None
            and memo.probe_ref() is probe
            and (memo.probe_version == probe._version)
        ):
            return True  # the very tensor, not modified in place since: no comparison needed
        if tolerance <= 0:
            return torch.equal(probe, memo.probe)
        change = float((probe - memo.probe).abs().max())
        return change <= tolerance * memo.probe_peak

    def add(
        self, canvas: torch.Tensor, values: torch.Tensor, idx: torch.Tensor, alpha: float = 1.0
    ) -> torch.Tensor:
        """canvas[c_b + j] += alpha values_b in place (adjoint of `gather`); returns canvas.
        A complex 1-D index_add is ~1.7x faster than on the interleaved float view (torch 2.13)."""
        index = self._flat_index(idx)
        canvas.reshape(-1).index_add_(0, index, values.reshape(-1), alpha=alpha)
        return canvas

    def object_patches(self, obj: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The object factor of the exit wave: S_{-f}(O[c+j]) ("object") or O[c+j] ("probe")."""
        patches = self.gather(obj, idx)
        if self.subpixel == "object" and self.has_frac:
            patches = self._shift(patches, idx, adjoint=False)
        return patches

    def object_adjoint(
        self,
        values: torch.Tensor,
        idx: torch.Tensor,
        out: torch.Tensor | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        """Adjoint of `object_patches` times alpha: (B, N, N) -> (H, W) canvas with overlaps
        summed, added in place into `out` when given (saves a canvas and a full-object add)."""
        if self.subpixel == "object" and self.has_frac:
            values = self._shift(values, idx, adjoint=True)
        if out is None:
            out = torch.zeros(self.shape, dtype=values.dtype, device=values.device)
        return self.add(out, values, idx, alpha)

    def probes(self, probe: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The probe factor on the box: P broadcast ("object", "round"), or S_{+f}(P) per position
        (B, h, w)."""
        if self.subpixel == "object" or not self.has_frac:
            return self.crop(probe).expand(len(idx), self.h, self.w)
        # The solver keeps one probe tensor and updates it in place (which bumps _version).
        key = (id(probe), probe._version)
        classes = self.shift_class.index_select(0, idx)
        if key == self._cache_key:
            return self._cache.index_select(0, classes)
        spectrum = torch.fft.fft2(probe, dim=FFT_DIMS)
        if key == self._last_key or self.classes_shared:
            # The probe stayed fixed since the last call, or classes are few: shift it once per
            # class (every position in exact mode).
            shifted = torch.fft.ifft2(spectrum * self.ramp.conj(), dim=FFT_DIMS)
            self._cache = self.crop(shifted).contiguous() if self.boxed else shifted
            self._cache_key = key
            return self._cache.index_select(0, classes)
        self._last_key = key
        shifted = torch.fft.ifft2(spectrum * self._ramps(idx).conj(), dim=FFT_DIMS)
        return self.crop(shifted)

    def probe_intensity(
        self, probe: torch.Tensor, idx: torch.Tensor, probes: torch.Tensor
    ) -> torch.Tensor:
        """|probe factor|^2 per position (B, h, w) float32; `probes` is `self.probes(probe, idx)`.
        Cached while the probe is fixed."""
        key = (id(probe), probe._version)
        if self.subpixel == "object" or not self.has_frac:
            if key != self._intensity_key:
                self._intensity, self._intensity_key = physics.intensity(self.crop(probe)), key
            return self._intensity.expand(len(idx), self.h, self.w)
        if key == self._cache_key:
            if key != self._intensity_key:
                self._intensity, self._intensity_key = physics.intensity(self._cache), key
            return self._intensity.index_select(0, self.shift_class.index_select(0, idx))
        return physics.intensity(probes)

    def shift_like_probe(self, image: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Apply the probe factor's placement to any (N, N) image (uncached): (B, h, w)."""
        if self.subpixel == "object" or not self.has_frac:
            return self.crop(image).expand(len(idx), self.h, self.w)
        return self.crop(
            torch.fft.ifft2(
                torch.fft.fft2(image, dim=FFT_DIMS) * self._ramps(idx).conj(), dim=FFT_DIMS
            )
        )

    def probe_gradient(
        self, patches: torch.Tensor, residual: torch.Tensor, idx: torch.Tensor
    ) -> torch.Tensor:
        """The probe box's gradient (h, w): the box of `probe_adjoint(conj(patches) * residual)`,
        with one fused reduction over the batch when the probe is not shifted (~4x faster). The
        probe is confined to its box (a support constraint), so the rest is not needed."""
        if self.subpixel == "object" or not self.has_frac:
            return torch.linalg.vecdot(patches, residual, dim=0)
        return self.crop(self.probe_adjoint(patches.conj() * residual, idx))

    def probe_adjoint(self, values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Adjoint of `probes` summed over the batch: (B, h, w) -> (N, N)."""
        ramps = None
        if self.classes_shared and self.has_frac:
            # sum_b S_{-f_b} v_b = sum_c S_{-f_c} (sum_{b in c} v_b): one FFT per class.
            classes = self.shift_class.index_select(0, idx)
            summed = values.new_zeros(len(self.ramp), *values.shape[1:])
            values, ramps = summed.index_add_(0, classes, values), self.ramp
        if self.boxed:
            padded = values.new_zeros(len(values), self.n, self.n)
            self.crop(padded).copy_(values)
            values = padded
        if self.subpixel == "object" or not self.has_frac:
            return values.sum(0)
        ramps = self._ramps(idx) if ramps is None else ramps
        spectrum = (torch.fft.fft2(values, dim=FFT_DIMS) * ramps).sum(0)
        return torch.fft.ifft2(spectrum, dim=FFT_DIMS)


def support_box(
    probe: torch.Tensor, *, threshold: float = 1e-6, margin: int = 0
) -> tuple[int, int, int, int]:
    """(r0, c0, h, w): the bounding box of the probe pixels with |P|^2 > threshold max |P|^2,
    widened by `margin` pixels on each side (room for a refined probe to grow) and clipped to
    the N x N frame. Solvers confine the probe to it and do their real-space work on it only."""
    intensity = probe.abs().square()
    rows = torch.nonzero((intensity > threshold * intensity.max()).any(dim=1)).flatten()
    cols = torch.nonzero((intensity > threshold * intensity.max()).any(dim=0)).flatten()
    n_rows, n_cols = intensity.shape
    if len(rows) == 0:
        return 0, 0, n_rows, n_cols
    r0, r1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, n_rows)
    c0, c1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + 1 + margin, n_cols)
    return r0, c0, r1 - r0, c1 - c0
