"""Simulation configs: the records whose digest identifies a simulated dataset, and presets.

Overlap is *linear* overlap, 1 - step / D (see `ptycho_nl.simulate.scans`); the named views
`dense` and `sparse` are two overlap settings.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_serializer, model_validator

from ptycho_nl.config import StrictModel

VIEWS: dict[str, float] = {"dense": 0.7, "sparse": 0.3}


class ObjectConfig(StrictModel):
    """Complex test object: amplitude in [amplitude_min, 1], phase in [-max_phase, max_phase]."""

    kind: Literal["camera_moon", "procedural"] = Field(
        "camera_moon",
        description="camera_moon: amplitude from scikit-image's camera, phase from its moon; "
        "procedural: seeded smooth random fields with sharp disks.",
    )
    size: int | None = Field(None, ge=8, description="Square side; None = just fits the scan.")
    amplitude_min: float = Field(0.5, ge=0.0, le=1.0)
    max_phase: float = Field(1.0, ge=0.0, le=math.pi, description="Phase half-range, radians.")
    feature_size: float = Field(4.0, gt=0, description="Procedural smoothing length, pixels.")


class ProbeConfig(StrictModel):
    """Probe: `disk` = focus of a circular (zone-plate-like) pupil with defocus; `gaussian`."""

    kind: Literal["disk", "gaussian"] = "disk"
    size: int = Field(64, ge=8, description="Probe and patch side N, pixels.")
    aperture: float = Field(0.5, gt=0, le=1.0, description="Pupil radius / Nyquist (disk).")
    defocus: float = Field(
        10.0, description="Quadratic pupil phase at the aperture edge, radians (disk)."
    )
    sigma: float = Field(4.0, gt=0, description="Gaussian standard deviation, pixels.")
    curvature: float = Field(0.0, description="Gaussian quadratic phase at r = sigma, radians.")
    modes: int = Field(
        1,
        ge=1,
        le=8,
        description="Incoherent probe modes K (partially coherent beam); 1 = coherent.",
    )
    mode_powers: list[float] | None = Field(
        None,
        description="Each mode's share of the power (K values > 0, normalised to sum 1); "
        "None = halving shares (1, 1/2, 1/4, ...) normalised.",
    )
    mode_tilt: float = Field(
        1.0,
        gt=0,
        description="Far-field tilt of modes 1..K-1, detector pixels: an extended source's "
        "modes are the probe under tilted illumination (before orthogonalisation).",
    )

    @model_validator(mode="after")
    def _powers_per_mode(self) -> ProbeConfig:
        powers = self.mode_powers
        if powers is not None and (len(powers) != self.modes or min(powers) <= 0):
            raise ValueError(f"mode_powers: expected {self.modes} positive values, found {powers}")
        return self

    @model_serializer(mode="wrap")
    def _coherent_unchanged(self, handler):
        # A coherent probe serialises without the mode fields: digests of existing configs
        # (and of the datasets they name) stay what they were.
        out = handler(self)
        if self.modes == 1 and isinstance(out, dict):
            for key in ("modes", "mode_powers", "mode_tilt"):
                out.pop(key, None)
        return out


class ScanConfig(StrictModel):
    """Scan pattern; give a named `view` or an explicit linear `overlap`, not both."""

    kind: Literal["raster", "spiral"] = "raster"
    n_positions: int = Field(64, ge=2)
    view: Literal["dense", "sparse"] | None = None
    overlap: float | None = Field(None, ge=0.0, lt=1.0)
    columns: int | None = Field(
        None, ge=2, description="Raster columns (row-major fill); None = ceil(sqrt(n))."
    )
    jitter: float = Field(0.0, ge=0.0, description="Gaussian position jitter (std), pixels.")
    integer_positions: bool = Field(False, description="Round centres to whole pixels.")

    @model_validator(mode="after")
    def _one_overlap(self) -> ScanConfig:
        if self.view is not None and self.overlap is not None:
            raise ValueError("give either view or overlap, not both")
        return self

    @property
    def target_overlap(self) -> float:
        return self.overlap if self.overlap is not None else VIEWS[self.view or "dense"]


class SimulationConfig(StrictModel):
    """Everything that determines a simulated dataset (its digest goes into the metadata)."""

    object: ObjectConfig = Field(default_factory=ObjectConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    dose: float = Field(1e4, gt=0, description="Mean photons per pattern.")
    seed: int = Field(0, ge=0)
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0, description="Test share of the scan.")


PRESETS: dict[str, SimulationConfig] = {
    "tiny": SimulationConfig(
        probe=ProbeConfig(size=32, kind="gaussian", sigma=4.0),
        # 4 x 16 raster: wide enough to split into train / test regions one patch apart.
        scan=ScanConfig(n_positions=64, columns=16, view="dense"),
        dose=1e4,
    ),
    "small": SimulationConfig(
        probe=ProbeConfig(size=64, kind="disk", aperture=0.5, defocus=10.0),
        scan=ScanConfig(kind="spiral", n_positions=400, view="dense"),
        dose=1e5,
    ),
}
