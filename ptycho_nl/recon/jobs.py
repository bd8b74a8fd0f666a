"""Reconstruction jobs behind `ptycho-nl reconstruct`: load an NPZ, reconstruct, write the record."""

from __future__ import annotations

import functools
import inspect
import time
from pathlib import Path

from ptycho_nl.compute import measure
from ptycho_nl.io_utils import atomic_write_text, sha256_file
from ptycho_nl.recon.result import ReconRecord, save_recon
from ptycho_nl.recon.stitch import scan_coverage


def _measured(job):
    """Measure a `*_to_dir` job and stamp its compute on the recon.json it wrote (rewritten
    atomically, so the file is complete either way)."""
    signature = inspect.signature(job)

    @functools.wraps(job)
    def run(*args, **kwargs) -> ReconRecord:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments
        device = given.get("device") or getattr(given.get("options"), "device", "cpu")
        with measure(device) as meter:
            record = job(*args, **kwargs)
        record = record.model_copy(update={"compute": meter.record})
        path = Path(given["out_dir"]) / "recon.json"
        atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
        return record

    return run


@_measured
def reconstruct_iterative_to_dir(
    data_path: str | Path, out_dir: str | Path, *, options, progress: bool = False
) -> ReconRecord:
    """Run `reconstruct_iterative` on an NPZ and write `out_dir` (see `result.py`)."""
    import torch

    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.recon.iterative import reconstruct_iterative

    data = load_npz(data_path)
    trace = quality_trace(data)
    result = reconstruct_iterative(data, options=options, progress=progress, trace=trace)
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
        stages={options.method: result.total_seconds},
        quality=trace.points if trace is not None else [],
        mode_powers=result.mode_powers if result.probe_modes is not None else [],
        refined_positions=result.positions is not None,
    )
    save_recon(
        out_dir,
        record,
        object=result.object.numpy(),
        probe=result.probe.numpy(),
        coverage=coverage.numpy(),
        probe_modes=None if result.probe_modes is None else result.probe_modes.numpy(),
        positions=result.positions,
    )
    return record


def quality_trace(data):
    """A quality-vs-time trace scored on `stitch.scored_region` (what the study scores), or None
    when the data hold no truth."""
    from ptycho_nl.recon.quality_trace import QualityTrace
    from ptycho_nl.recon.stitch import scored_region

    return None if data.object is None else QualityTrace(data.object, scored_region(data))


@_measured
def reconstruct_network_to_dir(
    bundle_path: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    chunk: int = 1024,
    batch_size: int = 256,
    device: str = "cpu",
    phase_sync: bool = True,
    precision: str = "float32",
    expected_sha256: str | None = None,
    moment_rounds: int = 0,
) -> ReconRecord:
    """Reconstruct an NPZ with a trained bundle (streamed in chunks) and write `out_dir`.

    expected_sha256 : the bundle's hash (None: its run's manifest.json, when beside it).
    moment_rounds : then correct the stitched object's coarse amplitude and phase this many
        times from the data's per-pattern moments (`moments.correct_coarse`; the object is first
        scaled to the data's energy, `hybrid.warm_start`); 0: the network's object as is."""
    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.recon.network import reconstruct_from_bundle
    from ptycho_nl.train.bundle import load_bundle

    bundle = load_bundle(bundle_path, expected_sha256=expected_sha256)
    data = load_npz(data_path, mmap=True)
    start = time.perf_counter()
    result = reconstruct_from_bundle(
        bundle, data, chunk=chunk, batch_size=batch_size, device=device, phase_sync=phase_sync,
        precision=precision,
    )  # fmt: skip
    seconds, coarse, moments_seconds = result.seconds, None, None
    if moment_rounds:
        from ptycho_nl.recon.hybrid import warm_start
        from ptycho_nl.recon.moments import correct_coarse

        begin = time.perf_counter()
        result.object, coarse = correct_coarse(warm_start(result, data), data, moment_rounds)
        moments_seconds = time.perf_counter() - begin
        seconds += moments_seconds
    record = ReconRecord(
        method=bundle.model_name.lower(),
        total_seconds=time.perf_counter() - start,
        source_data=str(data_path),
        source_sha256=sha256_file(data_path),
        n_patterns=data.n_patterns,
        object_shape=tuple(result.object.shape),
        options={
            "chunk": chunk,
            "batch_size": batch_size,
            "phase_sync": phase_sync,
            "precision": precision,
            "moment_rounds": moment_rounds,
            "moment_rounds_kept": None if coarse is None else coarse.rounds,
            "moment_rounds_note": None if coarse is None else coarse.reason,
        },  # fmt: skip
        bundle_sha256=bundle.sha256,
        stages={
            "network": result.seconds,
            **{f"network_{k}": v for k, v in result.stages.items()},
            **({} if moments_seconds is None else {"moments": moments_seconds}),
        },
    )
    trace = quality_trace(data)
    if trace is not None:
        record.quality = [trace.record(seconds, 0, result.object, "network")]
    save_recon(
        out_dir,
        record,
        object=result.object.numpy(),
        probe=data.probe,
        coverage=result.coverage.numpy(),
    )
    return record


@_measured
def reconstruct_hybrid_to_dir(
    bundle_path: str | Path,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    refine,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
    expected_sha256: str | None = None,
    phase_highpass: float | None = None,
    moment_rounds: int | None = None,
) -> ReconRecord:
    """The network's object refined by `refine` (IterativeOptions, or None: no refinement).

    expected_sha256 : the bundle's hash (None: its run's manifest.json, when beside it).
    phase_highpass, moment_rounds : see `reconstruct_hybrid` (None: its defaults)."""
    import torch

    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.recon.hybrid import MOMENT_ROUNDS, PHASE_HIGHPASS, reconstruct_hybrid
    from ptycho_nl.train.bundle import load_bundle

    bundle = load_bundle(bundle_path, expected_sha256=expected_sha256)
    data = load_npz(data_path)
    trace = quality_trace(data)
    highpass = PHASE_HIGHPASS if phase_highpass is None else phase_highpass
    rounds = MOMENT_ROUNDS if moment_rounds is None else moment_rounds
    result = reconstruct_hybrid(
        bundle, data, refine=refine, batch_size=batch_size, device=device, trace=trace,
        progress=progress, phase_highpass=highpass, moment_rounds=rounds,
    )  # fmt: skip
    coarse = result.coarse
    network = bundle.model_name.lower()
    stages = {"network": result.network_seconds}
    if refine is not None:
        stages[refine.method] = result.refine_seconds
    positions = torch.as_tensor(data.positions, dtype=torch.float64)
    coverage = scan_coverage(result.probe, positions, tuple(result.object.shape))
    record = ReconRecord(
        method=network if refine is None else f"{network}+{refine.method}",
        iterations=0 if refine is None else refine.iterations,
        errors=result.errors,
        seconds_per_iteration=(
            None if refine is None else result.refine_seconds / refine.iterations
        ),
        total_seconds=result.total_seconds,
        source_data=str(data_path),
        source_sha256=sha256_file(data_path),
        n_patterns=data.n_patterns,
        object_shape=tuple(result.object.shape),
        options={
            "batch_size": batch_size,
            "refine": None if refine is None else refine.model_dump(mode="json"),
            "phase_highpass": None if refine is None else highpass,
            "moment_rounds": None if refine is None else rounds,
            # what the start's moment corrections did (rounds kept, or why none ran)
            "moment_rounds_kept": None if coarse is None else coarse.rounds,
            "moment_rounds_note": None if coarse is None else coarse.reason,
        },
        bundle_sha256=bundle.sha256,
        stages=stages,
        quality=trace.points if trace is not None else [],
    )
    save_recon(
        out_dir,
        record,
        object=result.object.numpy(),
        probe=result.probe.numpy(),
        coverage=coverage.numpy(),
    )
    return record
