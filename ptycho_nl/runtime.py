"""Process set-up that must happen before torch is imported (OpenMP reads it once, at load)."""

from __future__ import annotations

import os


def configure_threads() -> None:
    """Make idle OpenMP threads sleep instead of spin (`OMP_WAIT_POLICY=PASSIVE`) unless the
    caller chose a policy: spinning threads on a busy machine stall every step (finding
    PERF-001 in docs/findings.md). Call it first thing in an entry point; once torch is loaded
    it has no effect."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
