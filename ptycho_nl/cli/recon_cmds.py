"""`ptycho-nl reconstruct` and `ptycho-nl evaluate`: thin layers over `recon.jobs` and
`evaluate.job`.

Solver options come from `IterativeOptions` alone: the flags below default to "not given" and
`--set` reaches every field, so each default lives in the model (listed by `reconstruct --help`).
Exit codes (tools.common.output): 0 ok, 1 invalid input (bad NPZ, bundle, positions, missing
ground truth), 2 usage (including an invalid solver option).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from ptycho_nl.cli.common import SetOption, flag_overrides, listing_command
from tools.common.output import CommandError, JsonFlag, emit, reporting

SOLVER = "Iterative solver (--method; default: IterativeOptions', listed below)"
NETWORK = "Network (--bundle; default: reconstruct_network_to_dir's, listed below)"
NETWORK_KEYS = ("chunk", "batch_size", "device", "phase_sync", "precision")


def _solver(help: str, *names: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=SOLVER)


def _network(help: str, *names: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=NETWORK)


def _network_defaults() -> dict[str, Any]:
    from ptycho_nl.recon.jobs import reconstruct_network_to_dir

    params = inspect.signature(reconstruct_network_to_dir).parameters
    return {key: params[key].default for key in NETWORK_KEYS}


def _options_listing() -> tuple[type, list[str]]:
    from ptycho_nl.recon.options import IterativeOptions

    defaults = ", ".join(f"{k}={v!r}" for k, v in _network_defaults().items())
    return IterativeOptions, [f"Network defaults (--bundle): {defaults}."]


def _solver_options(flags: dict[str, Any], sets: list[str]):
    from ptycho_nl.config import apply_overrides
    from ptycho_nl.errors import ConfigError
    from ptycho_nl.recon.options import IterativeOptions

    try:
        return apply_overrides(
            IterativeOptions, {}, [*flag_overrides(flags), *sets], source="reconstruct options"
        )
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


_MOMENT_KEYS = ("moment_rounds", "moment_rounds_kept", "moment_rounds_note")


def _recon_text(out: Path, summary: dict[str, Any]) -> str:
    text = f"wrote {out}: {summary['method']} in {summary['seconds']:.2f} s"
    if "moment_rounds" in summary:
        kept, asked = summary["moment_rounds_kept"], summary["moment_rounds"]
        note = summary.get("moment_rounds_note")
        text += f", {kept} of {asked} moment rounds" + (f" ({note})" if note else "")
    return text + (
        f", final error {summary['final_error']:.3g}" if "final_error" in summary else ""
    )


def reconstruct_command(
    data: Annotated[Path, typer.Option("--data", help="NPZ file with the diffraction data.")],
    out: Annotated[Path, typer.Option("--out", help="Reconstruction directory to write.")],
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Trained model bundle.zip (network recon).")
    ] = None,
    pretrained: Annotated[
        str | None,
        typer.Option(
            "--pretrained",
            help="A bundle shipped with the package (`ptycho-nl pretrained list`), loaded only "
            "if its SHA-256 is the index's; in place of --bundle.",
        ),
    ] = None,
    method: Annotated[str | None, _solver("Iterative solver: epie, rpie or lsqml.")] = None,
    refine: Annotated[
        str | None,
        _solver("With --bundle: refine the network's object with epie, rpie or lsqml (hybrid)."),
    ] = None,
    iterations: Annotated[int | None, _solver("Passes over the whole scan.")] = None,
    phase_highpass: Annotated[
        float | None,
        _network(
            "With --refine: the solver starts from the network's amplitude and its phase "
            "without the Gaussian low-pass of this many probe diameters (default 2; 0 keeps "
            "the whole network object)."
        ),
    ] = None,
    moment_rounds: Annotated[
        int | None,
        _network(
            "Correct the network object's coarse amplitude and phase this many times from "
            "each pattern's total counts and centre of mass: with --refine the solver's start "
            "(default 1), else the network's object itself (default 0). Skipped where the scan "
            "is too sparse or the dose too low for them, as recon.json notes."
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Positions per mini-batch (solver) or per forward (network).")
    ] = None,
    alpha: Annotated[float | None, _solver("rPIE regulariser alpha.")] = None,
    beta: Annotated[float | None, _solver("Object step size.")] = None,
    update_probe: Annotated[
        bool | None, _solver("Refine the probe as well.", "--update-probe/--fixed-probe")
    ] = None,
    order: Annotated[str | None, _solver("Mini-batches: fixed, sequential or compact.")] = None,
    subpixel: Annotated[str | None, _solver("Sub-pixel positions: probe, object or round.")] = None,
    subpixel_steps: Annotated[int | None, _solver("Round sub-pixel shifts to 1/STEPS px.")] = None,
    momentum: Annotated[float | None, _solver("Object momentum per pass (mPIE); 0 = off.")] = None,
    probe_box: Annotated[
        bool | None, _solver("Work on the probe's bounding box.", "--probe-box/--full-frame")
    ] = None,
    seed: Annotated[int | None, _solver("Seed of the mini-batch order.")] = None,
    probe_modes: Annotated[
        int | None, _solver("Incoherent probe modes K (mixed states, from the given probe).")
    ] = None,
    position_correction: Annotated[
        bool | None,
        _solver(
            "Refine the scan positions during the solver run.",
            "--position-correction/--fixed-positions",
        ),
    ] = None,
    sets: SetOption = None,
    device: Annotated[str | None, typer.Option(help="Torch device, cpu or cuda.")] = None,
    chunk: Annotated[int | None, _network("Patterns moved to the device at a time.")] = None,
    phase_sync: Annotated[
        bool | None, _network("Synchronise patch phases.", "--phase-sync/--no-phase-sync")
    ] = None,
    precision: Annotated[
        str | None, _network("Network arithmetic: float32, or bfloat16 (faster, ~1e-2 off).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = False,
    quality: Annotated[
        bool, _solver("Also write quality/: per-pattern data fit and figures.", "--quality")
    ] = False,
    half_split: Annotated[
        bool,
        _solver(
            "Also reconstruct interleaved halves: FRC resolution (implies --quality).",
            "--half-split",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Reconstruct an object from an NPZ with a trained bundle or an iterative solver, or both
    (--bundle with --refine: the network's object warm-starts the solver; --iterations 0 keeps it).
    --pretrained NAME takes a bundle shipped with the package in place of --bundle.

    Solver options not given keep IterativeOptions' defaults (listed below); --set reaches every
    field, e.g. --set probe_beta=0.5 --set probe_update_start=5.
    """
    from ptycho_nl.errors import PtychoError

    with reporting(as_json, failures=(PtychoError, ValueError)):
        if (bundle is not None) + (pretrained is not None) + (method is not None) != 1:
            raise CommandError(
                "give exactly one of --bundle BUNDLE.zip, --pretrained NAME or "
                "--method epie|rpie|lsqml"
            )
        expected = None
        if pretrained is not None:
            from ptycho_nl.errors import BundleError
            from ptycho_nl.pretrained.index import bundle_file, find_entry

            try:
                entry = find_entry(pretrained)
            except BundleError as exc:
                raise CommandError(str(exc)) from None
            bundle, expected = bundle_file(entry), entry.sha256
        if (quality or half_split) and method is None:
            raise CommandError("--quality and --half-split need an iterative --method")
        if phase_highpass is not None and (refine is None or phase_highpass < 0):
            raise CommandError(
                f"--phase-highpass takes probe diameters >= 0 with --refine, got {phase_highpass}"
                + ("" if refine is not None else " without --refine")
            )
        if moment_rounds is not None and (method is not None or moment_rounds < 0):
            raise CommandError(
                f"--moment-rounds takes a count >= 0 with --bundle or --pretrained, got "
                f"{moment_rounds}" + (f" with --method {method}" if method is not None else "")
            )
        if refine is not None and bundle is None:
            raise CommandError(
                "--refine refines a network's object: give --bundle BUNDLE.zip or --pretrained NAME"
            )
        solver_flags = {
            "iterations": iterations, "batch_size": batch_size, "alpha": alpha, "beta": beta,
            "update_probe": update_probe, "order": order, "subpixel": subpixel,
            "subpixel_steps": subpixel_steps, "momentum": momentum, "probe_box": probe_box,
            "seed": seed, "device": device, "probe_modes": probe_modes,
            "position_correction": position_correction,
        }  # fmt: skip
        if refine is not None:
            from ptycho_nl.recon.jobs import reconstruct_hybrid_to_dir

            # --iterations 0: the network's object as is (the hybrid's K = 0 end point).
            passes = solver_flags.pop("iterations")
            if passes == 0 and (phase_highpass is not None or moment_rounds is not None):
                raise CommandError(
                    "--phase-highpass and --moment-rounds shape the solver's start; with "
                    "--iterations 0 the hybrid is the network's object as is (for the network's "
                    "object with moment rounds, leave out --refine)"
                )
            options = None
            if passes is None or passes > 0:
                flags = {**solver_flags, "method": refine, "iterations": passes}
                options = _solver_options(flags, sets or [])
            given = dict(
                batch_size=batch_size, device=device, expected_sha256=expected,
                phase_highpass=phase_highpass, moment_rounds=moment_rounds,
            )  # fmt: skip
            kwargs = {k: v for k, v in given.items() if v is not None}
            record = reconstruct_hybrid_to_dir(
                bundle, data, out, refine=options, progress=progress, **kwargs
            )
        elif bundle is not None:
            from ptycho_nl.recon.jobs import reconstruct_network_to_dir

            if sets:
                raise CommandError("--set sets solver options; it does not apply with --bundle")
            given = dict(
                chunk=chunk, batch_size=batch_size, device=device, phase_sync=phase_sync,
                precision=precision, expected_sha256=expected, moment_rounds=moment_rounds,
            )  # fmt: skip
            kwargs = {k: v for k, v in given.items() if v is not None}  # else the library's
            record = reconstruct_network_to_dir(bundle, data, out, **kwargs)
        else:
            from ptycho_nl.recon.jobs import reconstruct_iterative_to_dir

            options = _solver_options({**solver_flags, "method": method}, sets or [])
            record = reconstruct_iterative_to_dir(data, out, options=options, progress=progress)
        extra = {}
        if quality or half_split:
            from ptycho_nl.recon.half_split import measured_report

            extra = measured_report(data, out, options, half_split=half_split, progress=progress)
    summary = {"out": str(out), "method": record.method, "seconds": record.total_seconds, **extra}
    if record.options.get("moment_rounds_kept") is not None:  # what the rounds did, and why not
        summary.update({k: record.options.get(k) for k in _MOMENT_KEYS})
    if record.errors:
        summary["final_error"] = record.errors[-1]
    text = _recon_text(out, summary)
    if "mean_r_factor" in extra:
        text += f"; data fit: R-factor {extra['mean_r_factor']:.3g}"
    if "resolution_px" in extra:
        text += f"; half-split FRC resolution {extra['resolution_px']:.2f} px"
    emit(ok=True, data=summary, as_json=as_json, text=text)


def evaluate_command(
    recon: Annotated[
        Path,
        typer.Option(
            "--recon", help="Directory written by reconstruct, or a nested model's training run."
        ),
    ],
    truth: Annotated[
        Path,
        typer.Option(
            "--truth", help="NPZ holding objectGuess (the truth), or the run's sequence file."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for metrics.json and PNGs.")],
    coverage_threshold: Annotated[
        float | None,
        typer.Option(
            "--coverage-threshold",
            help="Score pixels with coverage >= this x max (default: "
            "evaluate.metrics.COVERAGE_THRESHOLD, the rule the study scores by).",
        ),
    ] = None,
    figures: Annotated[
        bool, typer.Option("--figures/--no-figures", help="Write the PNG figures.")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Score a reconstruction against the ground truth: metrics.json and PNG figures.

    Given a nested model's training run (--recon RUN_DIR --truth its sequence file): recall
    accuracy or bits per character on the held-out split (`evaluate.sequence`)."""
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.evaluate.job import evaluate_to_dir

    with reporting(as_json, failures=(PtychoError, ValueError)):
        given = {} if coverage_threshold is None else {"coverage_threshold": coverage_threshold}
        if (recon / "manifest.json").is_file():  # a training run, not a reconstruction
            from ptycho_nl.evaluate.sequence import evaluate_sequence_run

            record = evaluate_sequence_run(recon, truth, out)
        else:
            record = evaluate_to_dir(recon, truth, out, figures=figures, **given)
    scores = ", ".join(f"{k} {v:.4g}" for k, v in record.metrics.items() if isinstance(v, float))
    text = f"wrote {out}: {record.model_id}: {scores}"
    data = {"model_id": record.model_id, "out": str(out), "metrics": record.metrics}
    emit(ok=True, data=data, as_json=as_json, text=text)


def register(app: typer.Typer) -> None:
    """Add `reconstruct` and `evaluate` to the `ptycho-nl` app."""
    app.command("reconstruct", cls=listing_command(_options_listing))(reconstruct_command)
    app.command("evaluate")(evaluate_command)
