"""Reconstruction jobs behind `ptycho-nl reconstruct`: load an NPZ, reconstruct, write the record."""

from __future__ import annotations

import time
from pathlib import Path

from ptycho_nl.io_utils import sha256_file
from ptycho_nl.recon.result import ReconRecord, save_recon
from ptycho_nl.recon.stitch import scan_coverage


def reconstruct_iterative_to_dir(
    data_path: str | Path, out_dir: str | Path, *, options, progress: bool = False
) -> ReconRecord:
    """Run `reconstruct_iterative` on an NPZ and write `out_dir` (see `result.py`)."""
    import torch

    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.recon.iterative import reconstruct_iterative

    data = load_npz(data_path)
    result = reconstruct_iterative(data, options=options, progress=progress)
    positions = torch.as_tensor(data.positions, dtype=torch.float64)
    coverage = scan_coverage(result.probe, positions, tuple(result.object.shape))
    record = ReconRecord(
        method=options.method,
        iterations=options.iterations,
        errors=result.errors,
        seconds_per_iteration=result.seconds_per_iteration,
        total_seconds=result.total_seconds,
        source_data=str(data_path),
        source_sha256=sha256_file(data_path),
        n_patterns=data.n_patterns,
        object_shape=tuple(result.object.shape),
        options=options.model_dump(mode="json"),
    )
    save_recon(
        out_dir,
        record,
        object=result.object.numpy(),
        probe=result.probe.numpy(),
        coverage=coverage.numpy(),
    )
    return record


def reconstruct_network_to_dir(
    bundle_path: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    chunk: int = 1024,
    batch_size: int = 256,
    device: str = "cpu",
    phase_sync: bool = True,
) -> ReconRecord:
    """Reconstruct an NPZ with a trained bundle (streamed in chunks) and write `out_dir`."""
    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.recon.network import reconstruct_from_bundle
    from ptycho_nl.train.bundle import load_bundle

    bundle = load_bundle(bundle_path)
    data = load_npz(data_path, mmap=True)
    start = time.perf_counter()
    result = reconstruct_from_bundle(
        bundle, data, chunk=chunk, batch_size=batch_size, device=device, phase_sync=phase_sync
    )
    record = ReconRecord(
        method=bundle.model_name.lower(),
        total_seconds=time.perf_counter() - start,
        source_data=str(data_path),
        source_sha256=sha256_file(data_path),
        n_patterns=data.n_patterns,
        object_shape=tuple(result.object.shape),
        options={"chunk": chunk, "batch_size": batch_size, "phase_sync": phase_sync},
        bundle_sha256=bundle.sha256,
    )
    save_recon(
        out_dir,
        record,
        object=result.object.numpy(),
        probe=data.probe,
        coverage=result.coverage.numpy(),
    )
    return record
