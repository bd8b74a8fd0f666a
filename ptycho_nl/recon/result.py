"""The on-disk reconstruction record: `<dir>/object.npy`, `probe.npy`, `coverage.npy`,
`recon.json` (a `ReconRecord`), and when the solver made them `probe_modes.npy` (K, N, N)
incoherent modes and `positions.npy` (n, 2) refined (row, col) positions. Every file is written
atomically."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from ptycho_nl.compute import ComputeRecord
from ptycho_nl.errors import PtychoError
from ptycho_nl.io_utils import atomic_write, atomic_write_text
from ptycho_nl.recon.quality_trace import QualityPoint

ARRAYS = ("object", "probe", "coverage")
OPTIONAL_ARRAYS = ("probe_modes", "positions")  # written only by runs that made them
MODEL_IDS = ("epie", "rpie", "lsqml", "pinn", "supervised")  # hybrids: "<network>+<solver>"


class ReconRecord(BaseModel):
    """recon.json: how a reconstruction was made."""

    method: str = Field(description="Canonical model id: epie, rpie, lsqml, pinn, supervised, ...")
    iterations: int = Field(0, description="Solver passes over the scan (0 for a network).")
    errors: list[float] = Field(default_factory=list, description="Fourier error per iteration.")
    seconds_per_iteration: float | None = None
    total_seconds: float = Field(description="Wall time of the reconstruction itself.")
    source_data: str = Field(description="Path of the NPZ the patterns came from.")
    source_sha256: str = Field(description="SHA-256 of that NPZ file.")
    n_patterns: int
    object_shape: tuple[int, int]
    options: dict[str, Any] = Field(default_factory=dict, description="Solver or bundle options.")
    bundle_sha256: str | None = None
    stages: dict[str, float] = Field(
        default_factory=dict,
        description="Wall time per stage, seconds (a hybrid: network, then refine).",
    )
    quality: list[QualityPoint] = Field(
        default_factory=list,
        description="NRMSE / phase SSIM against the truth at checkpoints in wall time (when the "
        "data hold the truth); the last point is the final object's score.",
    )
    created_utc: str = Field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    mode_powers: list[float] = Field(
        default_factory=list,
        description="Each incoherent probe mode's share of the power, strongest first "
        "(probe_modes.npy; empty for a single-mode probe).",
    )
    refined_positions: bool = Field(
        False, description="positions.npy holds the positions refined by position correction."
    )
    compute: ComputeRecord | None = Field(
        None, description="What the job cost (ptycho_nl.compute), stamped by recon/jobs.py."
    )


def _save_array(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)

    atomic_write(path, write)


def save_recon(
    out_dir: str | Path,
    record: ReconRecord,
    *,
    object: np.ndarray,
    probe: np.ndarray,
    coverage: np.ndarray,
    probe_modes: np.ndarray | None = None,
    positions: np.ndarray | None = None,
) -> Path:
    """Write the arrays then recon.json (last, so its presence means the directory is complete).
    probe_modes (K, N, N) and refined positions (n, 2) are optional."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _save_array(out / "object.npy", np.asarray(object, dtype=np.complex64))
    _save_array(out / "probe.npy", np.asarray(probe, dtype=np.complex64))
    _save_array(out / "coverage.npy", np.asarray(coverage, dtype=np.float32))
    if probe_modes is not None:
        _save_array(out / "probe_modes.npy", np.asarray(probe_modes, dtype=np.complex64))
    if positions is not None:
        _save_array(out / "positions.npy", np.asarray(positions, dtype=np.float64))
    atomic_write_text(out / "recon.json", record.model_dump_json(indent=2) + "\n")
    return out


def load_recon(recon_dir: str | Path) -> tuple[ReconRecord, dict[str, np.ndarray]]:
    """Read a reconstruction directory; PtychoError naming the missing or invalid file."""
    d = Path(recon_dir)
    meta = d / "recon.json"
    if not meta.is_file():
        raise PtychoError(f"{d}: not a reconstruction directory (recon.json missing)")
    try:
        record = ReconRecord.model_validate(json.loads(meta.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise PtychoError(f"{meta}: invalid reconstruction record ({exc})") from None
    arrays = {}
    for name in ARRAYS:
        path = d / f"{name}.npy"
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PtychoError(f"{path}: cannot read array ({exc})") from None
    for name in OPTIONAL_ARRAYS:
        path = d / f"{name}.npy"
        if path.is_file():
            try:
                arrays[name] = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise PtychoError(f"{path}: cannot read array ({exc})") from None
    if arrays["object"].ndim != 2 or arrays["coverage"].shape != arrays["object"].shape:
        raise PtychoError(
            f"{d}: object.npy {arrays['object'].shape} and coverage.npy "
            f"{arrays['coverage'].shape} must be one (H, W) shape"
        )
    return record, arrays
