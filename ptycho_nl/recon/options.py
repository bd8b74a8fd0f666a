"""Options of the iterative solvers, a pydantic model (imports no torch: `--help` stays fast)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ptycho_nl.config import StrictModel


class IterativeOptions(StrictModel):
    """Options of `reconstruct_iterative`."""

    method: Literal["epie", "rpie", "lsqml"] = Field("rpie", description="Solver.")
    iterations: int = Field(100, ge=1, description="Passes over the whole scan.")
    batch_size: int = Field(
        128,
        ge=1,
        description="Positions updated jointly in one step (default 128; LSQML 64).",
    )
    alpha: float = Field(
        0.8,
        ge=0,
        le=1,
        description=(
            "rPIE regulariser (Maiden 2017); ePIE always uses 1. Less regularisation amplifies "
            "the noise at low dose (docs/performance.md)."
        ),
    )
    beta: float = Field(1.0, gt=0, le=2, description="Object step size.")
    probe_beta: float = Field(1.0, gt=0, le=2, description="Probe step size.")
    update_probe: bool = Field(False, description="Refine the probe as well as the object.")
    probe_update_start: int = Field(
        1, ge=0, description="First iteration (0-based) at which the probe is updated."
    )
    momentum: float = Field(
        0.8,
        ge=0,
        lt=1,
        description=(
            "Object momentum eta per pass (mPIE, Maiden et al., Optica 4, 736 (2017)): after each "
            "pass v = eta v + (O - O_previous_pass), O += eta v. 0 = off."
        ),
    )
    preconditioner_tolerance: float = Field(
        0.05,
        ge=0,
        lt=1,
        description=(
            "(r)PIE: reuse a batch's illumination preconditioner while the probe moved by at "
            "most this fraction of its peak modulus since it was computed (0 = recompute on any "
            "change). Only matters when the probe is refined."
        ),
    )
    probe_power: Literal["auto", "data", "given"] = Field(
        "auto",
        description=(
            "Scale the initial probe so its far field carries the data's mean power over the "
            "valid pixels (data), keep it as given (given), or match only for data without "
            "ground truth and with no warm start (auto: measured data, whose probe estimate "
            "has an arbitrary scale)."
        ),
    )
    noise_model: Literal["poisson", "gaussian"] = Field(
        "poisson",
        description=(
            "LSQML's likelihood: poisson (Odstrcil 2018's Poisson update, a Newton step per "
            "pattern) or gaussian (amplitude likelihood, the modulus projection as exit-wave "
            "target: pty-chi's default; docs/performance.md compares them)."
        ),
    )
    lsqml_delta: float = Field(
        0.1,
        gt=0,
        le=10,
        description=(
            "LSQML: Tikhonov term of the object and probe preconditioners relative to their "
            "peak (Odstrcil 2018 Eq. 25); larger damps poorly lit pixels and the noise."
        ),
    )
    probe_modes: int = Field(
        1,
        ge=1,
        le=16,
        description=(
            "Incoherent probe modes K (mixed states): the intensity is the sum of the modes' "
            "intensities; the modes start from the given probe and are orthogonalised and "
            "ordered by power after every pass (ptycho_nl/recon/modes.py). K > 1 uses the "
            "general solver path (no probe box)."
        ),
    )
    position_correction: bool = Field(
        False,
        description=(
            "Refine the scan positions (least-squares fit of each step's exit-wave update by "
            "the shift gradient, ptycho_nl/recon/positions.py); uses the general path with "
            "exact sub-pixel shifts."
        ),
    )
    position_start: int = Field(
        10, ge=0, description="First iteration (0-based) at which the positions are refined."
    )
    position_gain: float = Field(
        1.0, gt=0, le=2, description="Fraction of the estimated shift applied per pass."
    )
    position_step_limit: float = Field(
        0.5, gt=0, description="Largest move of one position in one pass, pixels."
    )
    position_affine: bool = Field(
        False,
        description=(
            "Constrain the refined positions to a global affine map (scale, shear, rotation, "
            "offset) of the given ones."
        ),
    )
    seed: int = Field(0, description="Seed of the mini-batch order.")
    device: str = Field("cpu", description="Torch device, e.g. cpu or cuda.")
    subpixel: Literal["probe", "object", "round"] = Field(
        "probe",
        description=(
            "Where the sub-pixel part of a position is applied: shift the probe (fast, no FFT "
            "in object gather/scatter), the object patch (exactly physics.extract_patches), or "
            "nowhere: positions rounded to whole pixels as PtyLab does (fastest when the probe "
            "is refined; up to 0.5 px of model error)."
        ),
    )
    subpixel_steps: int | None = Field(
        None,
        ge=0,
        le=64,
        description=(
            "subpixel 'probe': round sub-pixel shifts to multiples of 1/steps px (error <= "
            "1/(2 steps) px) so positions share shifted probes: a refined probe then costs one "
            "FFT per shift class instead of per position. 0 = exact shifts; None = 4 when the "
            "probe is refined (see docs/performance.md), exact otherwise (a fixed probe's "
            "shifts are computed once anyway)."
        ),
    )
    probe_box: bool = Field(
        True,
        description=(
            "(r)PIE with subpixel 'probe' or 'round': confine the probe to the bounding box of "
            "|P|^2 > 1e-6 of its peak (widened by N/8 on each side when the probe is refined) "
            "and do the real-space work on that box only; false = the whole N x N frame."
        ),
    )
    order: Literal["fixed", "sequential", "compact"] = Field(
        "fixed",
        description=(
            "fixed: one random partition into mini-batches, drawn once and visited in a fresh "
            "random order every iteration (per-batch amplitudes and preconditioners are kept, "
            "the fastest); sequential: a fresh random partition every iteration (LSQML's "
            "default); compact: fixed spatially compact mini-batches (Z-order), visited in "
            "random order."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, data: Any) -> Any:
        """LSQML's own defaults where not given: batch 64 with a fresh partition every pass (it
        converged further than the (r)PIE defaults in docs/performance.md); the amplitude
        likelihood, no momentum, steps scaled by 0.9 and delta 0.3 (at least pty-chi's LSQML
        quality on R1 at every dose, known and refined probe: docs/performance.md)."""
        if isinstance(data, dict) and data.get("method") == "lsqml":
            tuned = {"noise_model": "gaussian", "momentum": 0.0, "beta": 0.9, "lsqml_delta": 0.3}
            data = {"batch_size": 64, "order": "sequential", **tuned, **data}
        return data
