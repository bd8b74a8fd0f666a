"""Keep freed memory in the process for the next job (glibc's malloc; elsewhere nothing).

A reconstruction or training step allocates and frees the same large temporaries (a batch of
spectra: megabytes) over and over. glibc returns such memory to the system on `free` (a large
block is its own `mmap`; the top of the heap is trimmed) and takes it back on the next
`malloc`, and every page of it faults in again. In a pool worker forked from the fork server
that was 300 000 page faults and 0.45 s of system time in 1.7 s of FFT work, against 35 000 and
0.04 s once the thresholds below are fixed (`docs/performance.md`). Fixing them keeps blocks
up to `MMAP_THRESHOLD` on the heap and up to `TRIM_THRESHOLD` of free heap in the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20  # blocks below this come from the heap, not a fresh mapping
TRIM_THRESHOLD = 256 * 2**20  # free heap kept at the top before any is given back


@functools.cache
def keep_freed_memory() -> bool:
    """Fix glibc's thresholds for this process (once; later calls do nothing). True if set,
    False where the C library is not glibc (macOS, musl) or refuses."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # Both at once: setting either turns off glibc's own adjustment of the other.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
