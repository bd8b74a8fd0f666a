"""The solver loop's cache: per named batch, per probe generation, tolerant preconditioners."""

import torch
from recon_scans import make_scan

from ptycho_nl import operators
from ptycho_nl.operators import ScanPlacement
from ptycho_nl.recon.solver_cache import Batch, SolverCache

N, SHAPE = 32, (72, 72)


def _cache(**kwargs) -> SolverCache:
    positions = torch.from_numpy(make_scan().positions)
    return SolverCache(ScanPlacement(positions, N, SHAPE, subpixel="probe", **kwargs))


def test_memoised_values_follow_the_batch_and_the_probe_generation():
    cache = _cache()
    probe = torch.ones(N, N, dtype=torch.complex64)
    a, b = Batch(0, torch.arange(0, 6), None), Batch(1, torch.arange(6, 12), None)
    calls = []

    def compute(tag):
        return lambda: calls.append(tag) or len(calls)

    assert cache.memoised(a, "k", compute("a"), probe=probe) == 1
    assert cache.memoised(b, "k", compute("b"), probe=probe) == 2
    assert cache.memoised(a, "k", compute("a"), probe=probe) == 1  # per batch, reused
    assert cache.memoised(a, "other", compute("a2"), probe=probe) == 3  # a new key recomputes
    probe.mul_(1.001)
    cache.probe_changed()
    assert cache.memoised(a, "other", compute("a3"), probe=probe) == 4  # exact: any change
    assert cache.memoised(a, "tol", compute("t1"), probe=probe, tolerance=0.02) == 5
    probe.mul_(1.01)
    cache.probe_changed()
    assert cache.memoised(a, "tol", compute("x"), probe=probe, tolerance=0.02) == 5  # 1% < 2%
    probe.mul_(1.05)
    cache.probe_changed()
    assert cache.memoised(a, "tol", compute("t2"), probe=probe, tolerance=0.02) == 6  # 6% > 2%
    once = Batch(None, torch.arange(3), None)  # a batch of one pass only: nothing kept
    assert cache.memoised(once, "k", compute("o1"), probe=probe) == 7
    assert cache.memoised(once, "k", compute("o2"), probe=probe) == 8
    assert calls == ["a", "b", "a2", "a3", "t1", "t2", "o1", "o2"]
    assert (cache.stats.hits, cache.stats.misses) == (2, 8)


def test_flat_indices_are_kept_for_named_batches_within_the_budget():
    cache = _cache()
    a = Batch(0, torch.arange(0, 6), None)
    first = cache.flat(a)
    assert cache.flat(a) is first
    assert torch.equal(first, cache.scan.flat_index(a.idx))
    tiny = _cache()
    tiny.budget_bytes = first.numel() * first.element_size()  # room for one batch only
    kept = tiny.flat(a)
    tiny.flat(Batch(1, torch.arange(6, 12), None))  # over budget: the memo is dropped wholesale
    assert tiny.flat(a) is not kept
    assert torch.equal(tiny.flat(a), kept)


def test_probe_factors_are_computed_once_per_generation():
    cache = _cache(subpixel_steps=4)  # shared classes: shifted once per class
    probe = torch.randn(N, N, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    idx = torch.arange(0, 20, 2)
    first = cache.probe_factor(probe, idx)
    torch.testing.assert_close(first, operators.probe_factor(cache.scan, probe, idx))
    kept = cache._factors
    cache.probe_factor(probe, torch.arange(1, 20, 2))
    assert cache._factors is kept  # same generation: picked from the kept class factors
    probe.mul_(2)
    cache.probe_changed()
    torch.testing.assert_close(
        cache.probe_factor(probe, idx), operators.probe_factor(cache.scan, probe, idx)
    )
    assert cache._factors is not kept
