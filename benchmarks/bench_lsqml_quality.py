"""LSQML quality on R1 against pty-chi 2.2's LSQML (issue 16 item 7), same run, same data.

Scenario R1 (`r1.py`) at each dose, 50 iterations, probe known and refined (blind start: the
flat disk of `r1.flat_disk_probe`). Rows: our LSQML with the paper's settings (Poisson update,
mPIE momentum 0.8, full steps, delta 0.1: the defaults before issue 16), our LSQML with
pty-chi's likelihood and steps (Gaussian amplitude likelihood, no momentum, step scaler 0.9) and
a larger preconditioner term (delta 0.3: LSQML's defaults now), our ePIE, and pty-chi's LSQML (batch 64, its defaults) when it imports.
NRMSE on R1's central region (sub-pixel registration, best complex scalar; ramp-removed in
brackets) and seconds per iteration.

    OMP_NUM_THREADS=2 python benchmarks/bench_lsqml_quality.py [--doses 1e3 1e4 1e6]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import ptychi_available, run_ptychi_lsqml  # noqa: E402
from r1 import flat_disk_probe, r1_data, score  # noqa: E402

from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative  # noqa: E402

SOLVERS = {
    "LSQML (paper: Poisson, momentum 0.8)": dict(
        method="lsqml", noise_model="poisson", momentum=0.8, beta=1.0, lsqml_delta=0.1
    ),
    "LSQML (Gaussian, no momentum, 0.9, delta 0.3)": dict(
        method="lsqml", noise_model="gaussian", momentum=0.0, beta=0.9, lsqml_delta=0.3
    ),
    "ePIE": dict(method="epie"),
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doses", type=float, nargs="+", default=[1e3, 1e4, 1e6])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    peer = ptychi_available()
    results = []
    for dose in args.doses:
        data = r1_data(dose)
        for blind in (False, True):
            start = flat_disk_probe(data.diffraction) if blind else None
            rows = {}
            for name, kwargs in SOLVERS.items():
                options = IterativeOptions(iterations=args.iterations, update_probe=blind, **kwargs)
                result = reconstruct_iterative(data, options=options, initial_probe=start)
                rows[name] = (result.object.numpy(), result.seconds_per_iteration)
            if peer:
                probe = start if blind else data.probe
                rows["pty-chi LSQML"] = run_ptychi_lsqml(
                    data, probe, iterations=args.iterations, blind=blind
                )
            for name, (obj, seconds) in rows.items():
                s = score(obj, data.object)
                row = dict(dose=dose, probe="refined" if blind else "known", solver=name,
                           nrmse=s["nrmse"], nrmse_ramp_removed=s["nrmse_ramp_removed"],
                           seconds_per_iteration=seconds)  # fmt: skip
                results.append(row)
                print(
                    f"dose {dose:8.0e} {row['probe']:7s} {name:48s} NRMSE {row['nrmse']:.4f} "
                    f"({row['nrmse_ramp_removed']:.4f})  {seconds:.3f} s/it",
                    flush=True,
                )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return {"rows": results, "ptychi": peer}


if __name__ == "__main__":
    main()
