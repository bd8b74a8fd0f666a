"""Paired statistics: checked against closed forms and brute-force references."""

import itertools

import numpy as np
import pytest

from ptycho_nl.evaluate import stats


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(0.3, 1.0, 20)
    large = rng.normal(0.3, 1.0, 2000)
    lo_s, hi_s = stats.bootstrap_mean_ci(small, seed=1)
    lo_l, hi_l = stats.bootstrap_mean_ci(large, seed=1)
    assert lo_s < small.mean() < hi_s
    assert lo_l < large.mean() < hi_l
    # Width scales like 1/sqrt(n): ten times narrower for 100 times the data (within 30%).
    ratio = (hi_s - lo_s) / (hi_l - lo_l)
    assert 7 < ratio < 13
    # And matches the normal-theory width 2 * 1.96 * sd / sqrt(n) for the large sample.
    assert abs((hi_l - lo_l) - 2 * 1.96 * large.std(ddof=1) / np.sqrt(large.size)) < 0.01


def test_benjamini_hochberg_matches_the_textbook_definition():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    adjusted = stats.benjamini_hochberg(p)
    m = len(p)
    # Brute force: adj_i = min over j with p_j >= p_i of p_j * m / rank_j.
    order = sorted(range(m), key=lambda i: p[i])
    rank = {i: r + 1 for r, i in enumerate(order)}
    for i in range(m):
        expected = min(min(1.0, p[j] * m / rank[j]) for j in range(m) if p[j] >= p[i])
        assert adjusted[i] == pytest.approx(expected)


def test_rank_biserial_brute_force_and_extremes():
    d = np.array([1.0, -2.0, 3.0, 4.0, -0.5])
    ranks = {v: r + 1 for r, v in enumerate(sorted(np.abs(d)))}
    w_plus = sum(ranks[abs(x)] for x in d if x > 0)
    w_minus = sum(ranks[abs(x)] for x in d if x < 0)
    assert stats.rank_biserial(d) == pytest.approx((w_plus - w_minus) / (w_plus + w_minus))
    assert stats.rank_biserial(np.array([1.0, 2.0, 3.0])) == 1.0
    assert stats.rank_biserial(np.array([-1.0, -2.0])) == -1.0


def test_wilcoxon_exact_p_for_all_positive_differences():
    # With n = 6 all-positive distinct differences, exact two-sided p = 2 / 2^6.
    assert stats.wilcoxon_p(np.arange(1.0, 7.0)) == pytest.approx(2 / 64)
    assert stats.wilcoxon_p(np.zeros(5)) == 1.0


def test_clear_difference_is_called_and_noise_is_not():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.5, 0.9, 24)
    scores = {
        "ssim": {
            "good": base + 0.05 + rng.normal(0, 0.01, 24),
            "bad": base,
            "same": base + rng.normal(0, 0.01, 24),
        }
    }
    results = stats.compare_all(scores, higher_is_better={"ssim": True})
    verdicts = {(r.method_a, r.method_b): r.verdict for r in results}
    assert verdicts[("bad", "good")] == "good better"
    assert verdicts[("good", "same")] == "good better"
    assert verdicts[("bad", "same")] == "no clear difference"
    assert all(r.p_adjusted >= r.p_value for r in results)


def test_lower_is_better_metrics_flip_the_winner():
    a = np.array([0.10, 0.12, 0.11, 0.09, 0.10, 0.13, 0.12, 0.11])
    b = a + 0.05
    (result,) = stats.compare_all({"nrmse": {"a": a, "b": b}}, higher_is_better={"nrmse": False})
    assert result.verdict == "a better"
    assert result.ci_high < 0


@pytest.mark.parametrize("bad", [np.array([1.0]), np.array([np.nan, 1.0])])
def test_invalid_scores_are_rejected(bad):
    with pytest.raises(ValueError):
        stats.paired_comparison(bad, np.ones_like(bad), metric="m", method_a="a", method_b="b")


def test_all_pairs_are_compared_once():
    scores = {"m": {k: np.arange(5.0) + i for i, k in enumerate("abcd")}}
    results = stats.compare_all(scores, higher_is_better={"m": True})
    pairs = {(r.method_a, r.method_b) for r in results}
    assert pairs == set(itertools.combinations("abcd", 2))
