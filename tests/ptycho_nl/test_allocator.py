"""The allocator setting keeps freed blocks for reuse: a loop that allocates and frees the same
large temporaries stops faulting their pages in again (counted in a fresh process)."""

import subprocess
import sys

import pytest

LOOP = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from ptycho_nl.allocator import keep_freed_memory
    assert keep_freed_memory()
x = np.ones(2**20)  # 8 MB, a batch of spectra
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    # four fresh 8 MB temporaries at once (a step's spectra and products), all freed together
    parts = [x * k for k in range(4)]
    del parts
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", LOOP, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_tuned_process_reuses_large_temporaries_instead_of_faulting_them_in():
    default, tuned = _faults("default"), _faults("tuned")
    # 50 rounds of four 2048-page temporaries: by default glibc trims the freed top of the heap
    # after each round (more than twice its adapted mmap threshold is free), so the next round
    # faults pages in again (about a quarter of them here: 100 000 faults)
    assert default > 20 * 2048
    assert tuned < default / 10


def test_setting_is_made_once_per_process():
    from ptycho_nl.allocator import keep_freed_memory

    assert keep_freed_memory() is keep_freed_memory()
