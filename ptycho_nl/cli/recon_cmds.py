"""`ptycho-nl reconstruct` and `ptycho-nl evaluate`: thin layers over `recon.jobs` and
`evaluate.job`.

Exit codes: 0 ok, 1 invalid input (bad NPZ, bundle, positions, missing ground truth), 2 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ptycho_nl.cli.common import EXIT_INVALID, EXIT_USAGE, die, print_json


def reconstruct_command(
    data: Annotated[Path, typer.Option("--data", help="NPZ file with the diffraction data.")],
    out: Annotated[Path, typer.Option("--out", help="Reconstruction directory to write.")],
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Trained model bundle.zip (network recon).")
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="Iterative solver: epie, rpie or lsqml.")
    ] = None,
    iterations: Annotated[
        int, typer.Option("--iterations", help="Iterations of the iterative solver.")
    ] = 100,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Positions per mini-batch (solver: 128, LSQML 64) or per forward (network, 64).",
        ),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="rPIE regulariser alpha.")] = 0.8,
    beta: Annotated[float, typer.Option("--beta", help="Object step size.")] = 1.0,
    update_probe: Annotated[
        bool, typer.Option("--update-probe/--fixed-probe", help="Refine the probe as well.")
    ] = False,
    order: Annotated[
        str | None,
        typer.Option(
            "--order",
            help="Mini-batches: fixed (one random partition, fastest; the default), sequential "
            "(a fresh one every iteration; LSQML's default) or compact (spatially compact).",
        ),
    ] = None,
    subpixel: Annotated[
        str,
        typer.Option(
            "--subpixel",
            help="Sub-pixel positions: shift the probe, shift the object patch, or round to "
            "whole pixels (fastest with --update-probe).",
        ),
    ] = "probe",
    subpixel_steps: Annotated[
        int | None,
        typer.Option(
            "--subpixel-steps",
            help="Round sub-pixel shifts to 1/STEPS px so positions share shifted probes "
            "(0 = exact; default: 4 with --update-probe, exact otherwise).",
        ),
    ] = None,
    momentum: Annotated[
        float, typer.Option("--momentum", help="Object momentum per pass (mPIE); 0 = off.")
    ] = 0.8,
    probe_box: Annotated[
        bool,
        typer.Option(
            "--probe-box/--full-frame",
            help="(r)PIE: confine the probe to its support's bounding box (faster).",
        ),
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the mini-batch order.")] = 0,
    device: Annotated[str, typer.Option("--device", help="Torch device, cpu or cuda.")] = "cpu",
    chunk: Annotated[
        int, typer.Option("--chunk", help="Patterns moved to the device at a time (network).")
    ] = 1024,
    phase_sync: Annotated[
        bool,
        typer.Option("--phase-sync/--no-phase-sync", help="Synchronise network patch phases."),
    ] = True,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = False,
) -> None:
    """Reconstruct an object from an NPZ with a trained bundle or an iterative solver."""
    if (bundle is None) == (method is None):
        die("give exactly one of --bundle BUNDLE.zip or --method epie|rpie|lsqml", EXIT_USAGE)
    from ptycho_nl.config import validate_config
    from ptycho_nl.errors import PtychoError

    try:
        if bundle is not None:
            from ptycho_nl.recon.jobs import reconstruct_network_to_dir

            record = reconstruct_network_to_dir(
                bundle,
                data,
                out,
                chunk=chunk,
                batch_size=batch_size or 64,
                device=device,
                phase_sync=phase_sync,
            )
        else:
            from ptycho_nl.recon.iterative import IterativeOptions
            from ptycho_nl.recon.jobs import reconstruct_iterative_to_dir

            raw = {
                "method": method,
                "iterations": iterations,
                **({} if batch_size is None else {"batch_size": batch_size}),
                "alpha": alpha,
                "beta": beta,
                "update_probe": update_probe,
                **({} if order is None else {"order": order}),
                "subpixel": subpixel,
                "subpixel_steps": subpixel_steps,
                "momentum": momentum,
                "probe_box": probe_box,
                "seed": seed,
                "device": device,
            }
            try:
                options = validate_config(IterativeOptions, raw, source="reconstruct options")
            except PtychoError as exc:
                die(str(exc), EXIT_USAGE)
            record = reconstruct_iterative_to_dir(data, out, options=options, progress=progress)
    except (PtychoError, ValueError) as exc:
        die(str(exc), EXIT_INVALID)
    summary = {"out": str(out), "method": record.method, "seconds": record.total_seconds}
    if record.errors:
        summary["final_error"] = record.errors[-1]
    print_json(summary)


def evaluate_command(
    recon: Annotated[Path, typer.Option("--recon", help="Directory written by reconstruct.")],
    truth: Annotated[Path, typer.Option("--truth", help="NPZ holding objectGuess (the truth).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for metrics.json and PNGs.")],
    coverage_threshold: Annotated[
        float,
        typer.Option("--coverage-threshold", help="Score pixels with coverage >= this x max."),
    ] = 0.5,
    figures: Annotated[
        bool, typer.Option("--figures/--no-figures", help="Write the PNG figures.")
    ] = True,
) -> None:
    """Score a reconstruction against the ground truth: metrics.json and PNG figures."""
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.evaluate.job import evaluate_to_dir

    try:
        record = evaluate_to_dir(
            recon, truth, out, coverage_threshold=coverage_threshold, figures=figures
        )
    except (PtychoError, ValueError) as exc:
        die(str(exc), EXIT_INVALID)
    m = record.metrics
    print_json(
        {
            "model_id": record.model_id,
            "nrmse": m["nrmse"],
            "phase_ssim": m["phase_ssim"],
            "out": str(out),
        }
    )


def register(app: typer.Typer) -> None:
    """Add `reconstruct` and `evaluate` to the `ptycho-nl` app."""
    app.command("reconstruct")(reconstruct_command)
    app.command("evaluate")(evaluate_command)
