"""Paired comparisons of reconstruction methods on shared test tiles.

Two methods are scored on the same tiles (or scan positions), so their scores are paired: we
analyse the per-tile differences d_i = score_a,i - score_b,i.

- Bootstrap confidence interval of the mean difference (percentile method, resampling tiles).
- Wilcoxon signed-rank test of the median difference (scipy; exact for small n without ties).
- Benjamini–Hochberg adjustment across all comparisons of a study (false discovery rate).
- Effect sizes: Cohen's d_z = mean(d) / sd(d) and the matched-pairs rank-biserial correlation.

A method is called better only when the interval excludes zero *and* the adjusted p-value is
below alpha; otherwise the verdict is "no clear difference".
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel


class PairedComparison(BaseModel):
    """One method-versus-method comparison on one metric (a record written to the study manifest)."""

    metric: str
    method_a: str
    method_b: str
    higher_is_better: bool
    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    median_diff: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    p_adjusted: float | None = None
    cohens_dz: float | None
    rank_biserial: float
    verdict: str = "no clear difference"


def bootstrap_mean_ci(
    diffs: np.ndarray, *, n_boot: int = 4000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `diffs` (resampled with replacement)."""
    diffs = np.asarray(diffs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(diffs), size=(n_boot, len(diffs)))
    means = diffs[draws].mean(axis=1)  # (n_boot,) — vectorised over resamples
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def rank_biserial(diffs: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (W+ - W-) / (W+ + W-), zeros dropped; in [-1, 1]."""
    from scipy.stats import rankdata

    d = np.asarray(diffs, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = rankdata(np.abs(d))
    w_plus, w_minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((w_plus - w_minus) / (w_plus + w_minus))


def wilcoxon_p(diffs: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero."""
    from scipy.stats import wilcoxon

    d = np.asarray(diffs, dtype=np.float64)
    if np.all(d == 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    # Enforce monotonicity from the largest p downwards.
    adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted.tolist()


def paired_comparison(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    metric: str,
    method_a: str,
    method_b: str,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    n_boot: int = 4000,
    seed: int = 0,
) -> PairedComparison:
    """Compare two methods' per-tile scores (same tiles, same order)."""
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need equal 1-D shapes, got {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError(f"a paired comparison needs at least 2 tiles, got {a.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"non-finite {metric} scores for {method_a} or {method_b}")
    d = a - b
    low, high = bootstrap_mean_ci(d, n_boot=n_boot, confidence=confidence, seed=seed)
    sd = float(d.std(ddof=1))
    return PairedComparison(
        metric=metric,
        method_a=method_a,
        method_b=method_b,
        higher_is_better=higher_is_better,
        n=int(a.size),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        mean_diff=float(d.mean()),
        median_diff=float(np.median(d)),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        p_value=wilcoxon_p(d),
        cohens_dz=float(d.mean() / sd) if sd > 0 else None,
        rank_biserial=rank_biserial(d),
    )


def decide(comparison: PairedComparison, *, alpha: float = 0.05) -> str:
    """The verdict: a method is better only if the CI excludes 0 and the adjusted p < alpha."""
    p = comparison.p_adjusted if comparison.p_adjusted is not None else comparison.p_value
    excludes_zero = comparison.ci_low > 0 or comparison.ci_high < 0
    if not excludes_zero or p >= alpha:
        return "no clear difference"
    a_higher = comparison.mean_diff > 0
    winner = comparison.method_a if a_higher == comparison.higher_is_better else comparison.method_b
    return f"{winner} better"


def compare_all(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    *,
    higher_is_better: Mapping[str, bool],
    alpha: float = 0.05,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[PairedComparison]:
    """Every pair of methods on every metric, BH-adjusted together, with verdicts.

    scores : {metric: {method: (n_tiles,) scores}}
    """
    results = []
    for metric, by_method in scores.items():
        for a, b in itertools.combinations(sorted(by_method), 2):
            results.append(
                paired_comparison(
                    by_method[a],
                    by_method[b],
                    metric=metric,
                    method_a=a,
                    method_b=b,
                    higher_is_better=higher_is_better[metric],
                    confidence=confidence,
                    seed=seed,
                )
            )
    adjusted = benjamini_hochberg([r.p_value for r in results])
    for result, p_adj in zip(results, adjusted, strict=True):
        result.p_adjusted = p_adj
        result.verdict = decide(result, alpha=alpha)
    return results
