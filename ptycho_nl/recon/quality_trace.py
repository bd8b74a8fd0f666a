"""Quality against wall time: NRMSE and phase SSIM of a reconstruction at checkpoints in time.

A reconstruction of data whose truth is known scores its current object at a few checkpoints
(geometrically spaced iterations, so early progress is resolved and late passes cost little) with
the same `compute_metrics` call and scanned-region mask that score the final result, so the last
point of a trace is the final score. The clock excludes the scoring itself: a point's `seconds`
is the reconstruction's own time up to that checkpoint, summed over stages (network, then
iterative refinement for a hybrid).
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import BaseModel, Field

from ptycho_nl.evaluate.metrics import compute_metrics

TRACE_POINTS = 12  # checkpoints per iterative run, first and last included


class QualityPoint(BaseModel):
    """One checkpoint: how good the object was after `seconds` of reconstruction."""

    seconds: float = Field(description="Reconstruction wall time so far, scoring excluded.")
    iteration: int = Field(description="Solver passes done so far (0: the starting object).")
    stage: str = Field(description="What produced this object: network, epie, rpie, lsqml, ...")
    nrmse: float
    phase_ssim: float


def checkpoint_iterations(iterations: int, points: int = TRACE_POINTS) -> set[int]:
    """Passes after which to score (1-based, geometric, always the last): {1, 2, 4, ..., K}."""
    if iterations < 1:
        return set()
    marks, gap = [1], 1
    for target in np.geomspace(1, iterations, num=min(points, iterations))[1:]:
        mark = max(int(round(target)), marks[-1] + gap)  # gaps never shrink
        if mark >= iterations:
            break
        gap, marks = mark - marks[-1], [*marks, mark]
    return {*marks, iterations}


class QualityTrace:
    """Collects `QualityPoint`s; `offset` is the wall time of earlier stages (a hybrid's network);
    `checkpoints`: how many passes of an iterative run to score (`checkpoint_iterations`)."""

    def __init__(
        self,
        truth: np.ndarray,
        mask: np.ndarray,
        *,
        offset: float = 0.0,
        checkpoints: int = TRACE_POINTS,
    ):
        self.truth = np.asarray(truth)
        self.mask = np.asarray(mask, dtype=bool)
        self.offset = offset
        self.checkpoints = checkpoints
        self.points: list[QualityPoint] = []
        self.scoring_seconds = 0.0  # time spent scoring, kept out of every point's clock

    def record(self, seconds: float, iteration: int, obj, stage: str) -> QualityPoint:
        """Score `obj` ((H, W) complex tensor or array) after `seconds` of this stage's work."""
        start = time.perf_counter()
        image = obj.detach().cpu().numpy() if hasattr(obj, "detach") else np.asarray(obj)
        scores = compute_metrics(image, self.truth, mask=self.mask)
        point = QualityPoint(
            seconds=self.offset + seconds,
            iteration=iteration,
            stage=stage,
            nrmse=float(scores["nrmse"]),
            phase_ssim=float(scores["phase_ssim"]),
        )
        self.points.append(point)
        self.scoring_seconds += time.perf_counter() - start
        return point


def time_to_reach(points: list[QualityPoint], nrmse: float) -> float | None:
    """Seconds until a trace first reaches `nrmse` or better; None when it never does."""
    for point in sorted(points, key=lambda p: p.seconds):
        if point.nrmse <= nrmse:
            return point.seconds
    return None
