"""Job functions for the executor tests (module-level, so spawned and Dask workers import them)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _log(log_dir: str, key: str) -> None:
    with open(Path(log_dir) / "calls.log", "a") as fh:
        fh.write(f"{key} {os.getpid()}\n")


def square(log_dir: str, key: str, x: int) -> int:
    """Logs the call, returns x * x."""
    _log(log_dir, key)
    return x * x


def fail(log_dir: str, key: str) -> int:
    _log(log_dir, key)
    raise KeyError("diffraction")


def die_once(log_dir: str, key: str, x: int, die: bool = True) -> int:
    """With `die`, the first call kills its own worker process mid-job (SIGKILL: no clean-up, as
    an OOM kill would); the rerun finds the marker and finishes."""
    _log(log_dir, key)
    marker = Path(log_dir) / f"{key}.died"
    if die and not marker.exists():
        marker.write_text("1")
        time.sleep(0.5)  # let the results of jobs that finished before reach the caller
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def calls(log_dir) -> list[str]:
    path = Path(log_dir) / "calls.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def environment(names: tuple[str, ...]) -> dict[str, str | None]:
    """The worker's value of each variable in `names` (None when unset)."""
    return {name: os.environ.get(name) for name in names}


def dask_settings(names: tuple[str, ...]) -> dict[str, object]:
    """The Dask configuration where the job runs (in a worker: what its nanny gave it)."""
    import dask

    return {name: dask.config.get(name, None) for name in names}
