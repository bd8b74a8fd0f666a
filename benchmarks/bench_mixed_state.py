"""Mixed-state probes with position correction: ours (ePIE, LSQML) against pty-chi 2.2's LSQML.

Data (simulated, same run, same data for every solver): a partially coherent beam of K = 3
incoherent modes (powers 0.6 / 0.3 / 0.1, `ProbeConfig(modes=3)`), a procedural object, a dense
raster, Poisson noise at DOSE photons per pattern, and scan positions off by uniform +-2 px per
axis. Every solver starts from the same probe (the coherent estimate of the file, split into K
initial modes by `recon.modes.initial_modes`), the perturbed positions and a flat object, refines
probe and positions, and is scored by NRMSE against the truth on the scanned region (after
sub-pixel registration) and by the RMS position error (common offset removed).

Printed: seconds / iteration and NRMSE per solver, and the ratios against pty-chi when it imports
(otherwise against our single-mode, uncorrected ePIE on the same data). pty-chi is an optional
peer: `pip install ptychi` (it needs pandas; `peers.py` stubs torchvision).

    OMP_NUM_THREADS=2 python benchmarks/bench_mixed_state.py [--size 32] [--iterations 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import _timed_quietly, _torchvision_stub, ptychi_available  # noqa: E402

from ptycho_nl.evaluate.metrics import compute_metrics  # noqa: E402
from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative  # noqa: E402
from ptycho_nl.recon.modes import initial_modes, mode_powers  # noqa: E402
from ptycho_nl.simulate.config import (  # noqa: E402
    ObjectConfig,
    ProbeConfig,
    ScanConfig,
    SimulationConfig,
)
from ptycho_nl.simulate.dataset import simulate  # noqa: E402

POWERS = [0.6, 0.3, 0.1]


def scenario(size: int, positions: int, dose: float, error: float, seed: int = 0):
    """(true data, data with perturbed positions, scored-region mask)."""
    cfg = SimulationConfig(
        probe=ProbeConfig(
            size=size, kind="disk", aperture=0.5, defocus=8.0, modes=3, mode_powers=POWERS
        ),
        object=ObjectConfig(kind="procedural"),
        scan=ScanConfig(n_positions=positions, view="dense"),
        dose=dose,
        seed=seed,
    )
    data = simulate(cfg)
    # Room for positions to move: the perturbed frames must stay on the object.
    offset = np.random.default_rng(seed + 1).uniform(-error, error, data.positions.shape)
    pos = data.positions
    lo, hi = size / 2, np.array(data.object.shape) - size / 2
    moved = np.clip(pos + offset, lo, hi)
    bad = dataclasses.replace(data, xcoords=moved[:, 1].copy(), ycoords=moved[:, 0].copy())
    mask = np.zeros(data.object.shape, bool)
    (r0, c0), (r1, c1) = np.ceil(pos.min(0)).astype(int), np.floor(pos.max(0)).astype(int)
    mask[r0 : r1 + 1, c0 : c1 + 1] = True
    return data, bad, mask


def position_rms(found, truth) -> float:
    error = np.asarray(found) - truth
    return float(np.sqrt(((error - error.mean(0)) ** 2).sum(1).mean()))


def run_ours(bad, *, method, iterations, modes, correct):
    options = IterativeOptions(
        method=method, iterations=iterations, batch_size=16, update_probe=True,
        probe_modes=modes, position_correction=correct, position_start=5, position_gain=1.5,
        subpixel="object",
    )  # fmt: skip
    result = reconstruct_iterative(bad, options=options)
    positions = result.positions if result.positions is not None else bad.positions
    powers = result.mode_powers
    return result.object.numpy(), result.seconds_per_iteration, positions, powers


def run_ptychi(bad, *, iterations, modes):
    """pty-chi 2.2 LSQML with K incoherent modes (its SVD orthogonalisation) and gradient
    position correction; same start (modes, positions, flat object) as ours."""
    import logging
    import warnings

    _torchvision_stub()
    import ptychi.api as api
    from ptychi.api.task import PtychographyTask

    logging.disable(logging.WARNING)
    start = initial_modes(torch.from_numpy(bad.probe), modes)
    options = api.LSQMLOptions()
    # The file's amplitudes are centred (DC at N/2), as pty-chi expects its data.
    options.data_options.data = torch.from_numpy(np.asarray(bad.diffraction, np.float32) ** 2)
    options.object_options.initial_guess = torch.ones((1, *bad.object_shape), dtype=torch.complex64)
    options.object_options.determine_position_origin_coords_by = (
        api.enums.ObjectPosOriginCoordsMethods.SPECIFIED
    )
    options.object_options.position_origin_coords = np.array([0.0, 0.0])
    options.probe_options.initial_guess = start[None]
    options.probe_options.optimizable = True
    options.probe_position_options.optimizable = True
    options.probe_position_options.optimization_plan.start = 5
    options.reconstructor_options.batch_size = 16
    options.reconstructor_options.num_epochs = iterations
    options.reconstructor_options.default_device = api.enums.Devices.CPU
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = PtychographyTask(
            options,
            probe_position_y_px=torch.from_numpy(bad.positions[:, 0].copy()),
            probe_position_x_px=torch.from_numpy(bad.positions[:, 1].copy()),
        )
        seconds = _timed_quietly(task.run) / iterations
    obj = task.get_data_to_cpu("object", as_numpy=True)[0]
    positions = task.get_data_to_cpu("probe_positions", as_numpy=True)
    probe = torch.from_numpy(np.asarray(task.get_data_to_cpu("probe", as_numpy=True))[0])
    return obj, seconds, positions, mode_powers(probe)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32, help="probe / frame side N")
    parser.add_argument("--positions", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--dose", type=float, default=1e5)
    parser.add_argument("--error", type=float, default=2.0, help="position error bound, px")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    data, bad, mask = scenario(args.size, args.positions, args.dose, args.error)
    runs = {
        "ePIE K=1, positions as given": dict(method="epie", modes=1, correct=False),
        "ePIE K=3 + position correction": dict(method="epie", modes=3, correct=True),
        "LSQML K=3 + position correction": dict(method="lsqml", modes=3, correct=True),
    }
    rows = {}
    for name, kwargs in runs.items():
        rows[name] = run_ours(bad, iterations=args.iterations, **kwargs)
    peer = ptychi_available()
    if peer:
        rows["pty-chi LSQML K=3 + position correction"] = run_ptychi(
            bad, iterations=args.iterations, modes=3
        )
    table = {}
    for name, (obj, seconds, positions, powers) in rows.items():
        nrmse = compute_metrics(obj, data.object, mask=mask)["nrmse"]
        table[name] = {
            "seconds_per_iteration": seconds,
            "nrmse": nrmse,
            "position_rms_px": position_rms(positions, data.positions),
            "mode_powers": [round(p, 3) for p in powers],
        }
    reference = "pty-chi LSQML K=3 + position correction" if peer else next(iter(table))
    print(
        f"N={args.size}, {args.positions} positions, dose {args.dose:g}, K=3 true powers "
        f"{POWERS}, position errors +-{args.error} px (RMS "
        f"{position_rms(bad.positions, data.positions):.2f} px), {args.iterations} iterations, "
        f"torch threads {torch.get_num_threads()}; reference: {reference}"
    )
    ref = table[reference]
    for name, row in table.items():
        speed = ref["seconds_per_iteration"] / row["seconds_per_iteration"]
        print(
            f"  {name:42s} {row['seconds_per_iteration']:.4f} s/it (x{speed:.2f} vs ref)  "
            f"NRMSE {row['nrmse']:.4f} (ref {ref['nrmse']:.4f})  positions RMS "
            f"{row['position_rms_px']:.3f} px  powers {row['mode_powers']}"
        )
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "reference": reference,
              "runs": table, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
