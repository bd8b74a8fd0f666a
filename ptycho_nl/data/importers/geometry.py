"""What every importer shares: the array mapping (which DC layout, which quantity, which position
convention) and the conversion of raw arrays into contract arrays.

Axis legend: n patterns, N detector (patch) side. Positions leave here as patch centres in
object pixels, (row, col), shifted by whole pixels so the top-left patch starts `margin` pixels
inside the frame (docs/architecture.md, "Physics conventions"; the object extent then follows
from the positions and the probe size, §7).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ptycho_nl.config import StrictModel
from ptycho_nl.data.contract import IMPORTS_SECTION, SPEC
from ptycho_nl.errors import ContractError

REF = f"[{SPEC} {IMPORTS_SECTION}]"
PLANCK_C = 6.62607015e-34 * 299792458.0  # h c, J m
DEFAULT_MARGIN = 2  # whole pixels of frame around the outermost patches


class Geometry(StrictModel):
    """Far-field geometry; the sample-plane pixel is lambda z / (N p) unless given directly."""

    pixel_size_m: float | None = Field(None, gt=0, description="Sample-plane pixel, metres.")
    wavelength_m: float | None = Field(None, gt=0, description="Wavelength, metres.")
    energy_ev: float | None = Field(None, gt=0, description="Photon energy, eV (or wavelength).")
    distance_m: float | None = Field(None, gt=0, description="Sample-detector distance, metres.")
    detector_pixel_m: float | None = Field(None, gt=0, description="Detector pixel, metres.")

    def wavelength(self) -> float | None:
        if self.wavelength_m is not None:
            return self.wavelength_m
        return None if self.energy_ev is None else PLANCK_C / (self.energy_ev * 1.602176634e-19)

    def sample_pixel(self, n: int) -> float | None:
        """Sample-plane pixel of an n-pixel detector, or None when the geometry is incomplete."""
        if self.pixel_size_m is not None:
            return self.pixel_size_m
        lam = self.wavelength()
        if lam is None or self.distance_m is None or self.detector_pixel_m is None:
            return None
        return lam * self.distance_m / (n * self.detector_pixel_m)


class ArrayMapping(StrictModel):
    """How the raw arrays are laid out (`ptycho-nl import --diffraction KEY ...`)."""

    diffraction: str = Field("diffraction", description="Key of the (n, N, N) patterns.")
    positions: str | None = Field(None, description="Key of the (n, 2) positions.")
    xcoords: str | None = Field(None, description="Key of the (n,) column positions.")
    ycoords: str | None = Field(None, description="Key of the (n,) row positions.")
    probe: str | None = Field(None, description="Key of the (N, N) probe (else estimated).")
    mask: str | None = Field(None, description="Key of a detector mask (True = valid).")
    dc: Literal["corner", "centre"] = Field("centre", description="Zero frequency position.")
    kind: Literal["counts", "intensity", "amplitude"] = Field("counts", description="Quantity.")
    positions_are: Literal["corner", "centre"] = Field("centre", description="Patch corner/centre.")
    axis_order: Literal["rowcol", "xy"] = Field("rowcol", description="(row, col) or (x, y).")
    units: Literal["px", "m"] = Field("px", description="Position units.")
    geometry: Geometry = Field(default_factory=Geometry)

    @model_validator(mode="after")
    def _one_way_to_positions(self) -> ArrayMapping:
        if self.positions is None and (self.xcoords is None or self.ycoords is None):
            raise ValueError("give positions KEY, or both xcoords KEY and ycoords KEY")
        return self


def squeeze_to(arr: np.ndarray, ndim: int) -> np.ndarray:
    """Drop singleton axes (a (1, n, N, N) stack, an (n, N, N, 1) channel) down to `ndim`."""
    arr = np.asarray(arr)
    while arr.ndim > ndim and 1 in arr.shape:
        arr = np.squeeze(arr, axis=arr.shape.index(1))
    return arr


def to_amplitude(raw: np.ndarray, kind: str, dc: str) -> tuple[np.ndarray, float | None]:
    """(n, N, N) float32 amplitudes with the zero frequency at the centre, and the scale s
    (1 for counts, so counts = (s A)^2; None otherwise). Negative or non-finite values are left
    for the contract to report."""
    values = np.asarray(raw, dtype=np.float64)
    if dc == "corner":
        values = np.fft.fftshift(values, axes=(-2, -1))
    if kind in ("counts", "intensity"):
        # Negative values stay negative so the contract names them (sqrt would hide them as NaN).
        values = np.where(values >= 0, np.sqrt(np.abs(values)), values)
    return values.astype(np.float32), (1.0 if kind == "counts" else None)


def centres_in_pixels(
    positions: np.ndarray, n: int, mapping: ArrayMapping, pixel: float | None, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) patch centres in object pixels from raw (n, 2) positions, shifted so the
    top-left patch starts DEFAULT_MARGIN pixels inside the frame."""
    pos = np.asarray(positions, dtype=np.float64)
    if mapping.axis_order == "xy":
        pos = pos[:, ::-1]
    if mapping.units == "m":
        if pixel is None:
            raise ContractError(
                source,
                [
                    f"{source}: positions in metres: expected the sample pixel size (--pixel-size "
                    f"or wavelength/energy, distance and detector pixel), found none {REF}"
                ],
            )
        pos = pos / pixel
    if mapping.positions_are == "corner":
        pos = pos + n / 2
    top_left = np.floor(pos.min(axis=0) - n / 2)
    pos = pos - top_left + DEFAULT_MARGIN
    return pos[:, 0], pos[:, 1]


def estimate_probe(amplitude: np.ndarray, diameter_px: float | None = None) -> np.ndarray:
    """An initial probe with the data's power (sum |P|^2 = mean sum A^2, Parseval): a disc of
    `diameter_px` when the optics give one, else the back-propagated mean amplitude."""
    n = amplitude.shape[-1]
    power = float(np.square(amplitude, dtype=np.float64).sum(axis=(-2, -1)).mean())
    if diameter_px:
        c = np.arange(n) - n / 2 + 0.5
        probe = (np.hypot(c[:, None], c[None, :]) <= diameter_px / 2).astype(np.complex128)
    else:
        mean = np.sqrt(np.square(amplitude, dtype=np.float64).mean(axis=0))
        probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(mean), norm="ortho"))
    probe *= np.sqrt(power / max(float(np.square(np.abs(probe)).sum()), 1e-30))
    return probe.astype(np.complex64)


def missing(source: str, key: str, what: str) -> str:
    return f"{source}: key '{key}': expected {what}, found missing {REF}"


def contract_arrays(
    *,
    diffraction: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    probe: np.ndarray,
    scale: float | None,
    metadata: dict[str, Any],
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """The contract's keys in table order (the validator then checks them)."""
    arrays: dict[str, Any] = {
        "diffraction": diffraction,
        "probeGuess": np.asarray(probe).astype(np.complex64),
        "xcoords": np.asarray(cols, dtype=np.float64),
        "ycoords": np.asarray(rows, dtype=np.float64),
    }
    if scale is not None:
        arrays["intensity_scale"] = np.float64(scale)
    arrays["metadata"] = np.array(json.dumps(metadata, sort_keys=True, separators=(",", ":")))
    if mask is not None:
        arrays["mask"] = np.asarray(mask).astype(bool)
    return arrays


def check_axes(source: str, diffraction: np.ndarray, rows: np.ndarray, probe: np.ndarray) -> None:
    """Patterns, positions and probe must agree on n and N before anything is converted."""
    problems = []
    if diffraction.ndim != 3 or diffraction.shape[-1] != diffraction.shape[-2]:
        problems.append(
            f"{source}: diffraction: expected (n, N, N) after squeezing singleton axes, found "
            f"{tuple(diffraction.shape)} {REF}"
        )
    elif len(rows) != diffraction.shape[0]:
        problems.append(
            f"{source}: positions: expected n = {diffraction.shape[0]} (diffraction), found "
            f"{len(rows)} {REF}"
        )
    elif probe.shape[-2:] != diffraction.shape[-2:]:
        problems.append(
            f"{source}: probe: expected (N, N) with N = {diffraction.shape[-1]} (diffraction), "
            f"found {tuple(probe.shape)} {REF}"
        )
    if problems:
        raise ContractError(source, problems)
