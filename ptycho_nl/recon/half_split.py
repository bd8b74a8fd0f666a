"""`reconstruct --half-split`: two reconstructions from interleaved halves of one scan, on one
frame, and the FRC resolution between them (`evaluate.resolution`), with the data fit of the
full reconstruction (`evaluate.datafit`) and the figures of `evaluate.quality_figures`.

Writes, under `out_dir/half_split/`: `a/` and `b/` (reconstruction directories, `result.py`),
`resolution.json` (a `ResolutionRecord`), `frc.png`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptycho_nl.evaluate.resolution import ResolutionRecord, half_split_index, resolution
from ptycho_nl.io_utils import atomic_write_text

REGION = 0.5  # compared region: both halves' coverage >= this x its maximum


@dataclass
class HalfSplit:
    a: object  # IterativeResult of the even patterns
    b: object  # IterativeResult of the odd patterns
    record: ResolutionRecord
    region: np.ndarray  # (H, W) bool


def reconstruct_half_split(data, options, *, progress: bool = False) -> HalfSplit:
    """Reconstruct the even and the odd patterns of `data` on its full frame and compare them."""
    import torch

    from ptycho_nl.recon.iterative import reconstruct_iterative
    from ptycho_nl.recon.stitch import scan_coverage

    shape = data.object_shape
    start = torch.ones(shape, dtype=torch.complex64)  # one frame for both halves
    if options.probe_power == "auto" and data.object is None:
        options = options.model_copy(update={"probe_power": "data"})  # as a full run would
    halves, coverages = [], []
    for index in half_split_index(data.n_patterns):
        part = data.subset(index)
        halves.append(
            reconstruct_iterative(part, options=options, initial_object=start, progress=progress)
        )
        positions = torch.as_tensor(part.positions, dtype=torch.float64)
        coverages.append(scan_coverage(halves[-1].probe, positions, shape).numpy())
    both = np.minimum(*coverages)
    region = both >= REGION * float(both.max())
    pixel = (data.metadata or {}).get("sample_pixel_size_m")
    record = resolution(
        halves[0].object.numpy(), halves[1].object.numpy(), region, pixel_size_m=pixel
    )
    return HalfSplit(halves[0], halves[1], record, region)


def half_split_to_dir(
    data, options, out_dir: str | Path, *, source: str, sha256: str, progress: bool = False
):
    """Run `reconstruct_half_split` and write `out_dir/half_split/` (module docstring)."""
    from ptycho_nl.evaluate.quality_figures import frc_figure
    from ptycho_nl.recon.result import ReconRecord, save_recon

    split = reconstruct_half_split(data, options, progress=progress)
    out = Path(out_dir) / "half_split"
    for name, result, index in zip(
        ("a", "b"), (split.a, split.b), half_split_index(data.n_patterns), strict=True
    ):
        record = ReconRecord(
            method=options.method,
            iterations=options.iterations,
            errors=result.errors,
            seconds_per_iteration=result.seconds_per_iteration,
            total_seconds=result.total_seconds,
            source_data=source,
            source_sha256=sha256,
            n_patterns=len(index),
            object_shape=tuple(result.object.shape),
            options={**options.model_dump(mode="json"), "half": name},
        )
        coverage = np.asarray(split.region, np.float32)
        save_recon(out / name, record, object=result.object.numpy(),
                   probe=result.probe.numpy(), coverage=coverage)  # fmt: skip
    atomic_write_text(out / "resolution.json", split.record.model_dump_json(indent=2) + "\n")
    frc_figure(split.record, out / "frc.png")
    return split


def measured_report(data_path, out_dir, options, *, half_split: bool, progress: bool = False):
    """What `reconstruct --quality / --half-split` adds to a finished iterative reconstruction
    in `out_dir`: `quality/datafit.json` (per-pattern Poisson deviance and R-factor) with the
    figures of `evaluate.quality_figures`, and with `half_split` the FRC of `half_split_to_dir`.
    Returns the summary numbers."""
    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.evaluate.datafit import data_fit
    from ptycho_nl.evaluate.quality_figures import modes_figure, positions_figure, quality_figures
    from ptycho_nl.io_utils import sha256_file
    from ptycho_nl.recon.result import load_recon

    data = load_npz(data_path)
    record, arrays = load_recon(out_dir)
    fit = data_fit(data, arrays["object"], arrays["probe"])
    quality = Path(out_dir) / "quality"
    atomic_write_text(quality / "datafit.json", fit.model_dump_json(indent=2) + "\n")
    quality_figures(arrays["object"], arrays["probe"], record.errors, data.positions, fit, quality)
    if arrays.get("probe_modes") is not None and len(arrays["probe_modes"]) > 1:
        modes_figure(arrays["probe_modes"], quality / "probe_modes.png")
    if arrays.get("positions") is not None:
        positions_figure(data.positions, arrays["positions"], quality / "positions.png")
    summary = {"mean_deviance": fit.mean_deviance, "mean_r_factor": fit.mean_r_factor}
    if half_split:
        sha = sha256_file(data_path)
        split = half_split_to_dir(
            data, options, out_dir, source=str(data_path), sha256=sha, progress=progress
        )
        summary.update(
            resolution_px=split.record.resolution_px, resolution_m=split.record.resolution_m
        )
    return summary
