"""The evaluation job behind `ptycho-nl evaluate`: score a reconstruction directory against the
ground-truth object of an NPZ and write `metrics.json` plus PNG figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ptycho_nl.errors import PtychoError
from ptycho_nl.evaluate.metrics import COVERAGE_THRESHOLD
from ptycho_nl.io_utils import atomic_write_json, sha256_file


class MetricsRecord(BaseModel):
    """metrics.json. Non-finite floats (a PSNR of identical images) are written as "inf"."""

    model_id: str = Field(description="Canonical model id: epie, rpie, lsqml, pinn, supervised.")
    recon_dir: str
    truth: str
    truth_sha256: str
    source_sha256: str
    coverage_threshold: float = Field(description="Scored pixels: coverage >= this x max.")
    metrics: dict[str, Any]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def evaluate_to_dir(
    recon_dir: str | Path,
    truth_path: str | Path,
    out_dir: str | Path,
    *,
    coverage_threshold: float = COVERAGE_THRESHOLD,
    figures: bool = True,
) -> MetricsRecord:
    """Align, score and plot. Raises PtychoError (or ContractError) naming the bad input."""
    from ptycho_nl.data.npz import load_npz
    from ptycho_nl.evaluate.align import DEFAULT_MAX_SHIFT, align_to_truth, bounding_box
    from ptycho_nl.evaluate.metrics import compute_metrics, scored_mask
    from ptycho_nl.recon.result import load_recon

    if not 0 < coverage_threshold <= 1:
        raise PtychoError(f"coverage threshold must be in (0, 1], got {coverage_threshold}")
    record, arrays = load_recon(recon_dir)
    data = load_npz(truth_path)
    if data.object is None:
        raise PtychoError(
            f"{truth_path}: key 'objectGuess' missing: evaluate needs the ground-truth object"
        )
    truth = np.asarray(data.object)
    if truth.shape != arrays["object"].shape:
        raise PtychoError(
            f"{truth_path}: objectGuess has shape {truth.shape} but the reconstruction in "
            f"{recon_dir} has shape {arrays['object'].shape}"
        )
    mask = scored_mask(arrays["coverage"], coverage_threshold)
    # Align once; metrics and figures see the same image.
    alignment = align_to_truth(arrays["object"], truth, mask, max_shift=DEFAULT_MAX_SHIFT)
    metrics = {
        **compute_metrics(alignment.recon, truth, mask=mask, register=False),
        "shift_px": list(alignment.shift),
    }
    out = Path(out_dir)
    result = MetricsRecord(
        model_id=record.method,
        recon_dir=str(recon_dir),
        truth=str(truth_path),
        truth_sha256=sha256_file(truth_path),
        source_sha256=record.source_sha256,
        coverage_threshold=coverage_threshold,
        metrics=_json_safe(metrics),
    )
    atomic_write_json(out / "metrics.json", result.model_dump(mode="json"))
    if figures:
        from ptycho_nl.evaluate.figures import save_figures

        rs, cs = bounding_box(mask)
        save_figures(alignment.recon[rs, cs], truth[rs, cs], metrics, out)
    return result
