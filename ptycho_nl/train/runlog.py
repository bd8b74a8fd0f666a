"""The run's logs: `logs/training.log` (human), `logs/events.jsonl`, `logs/metrics.json`.

Every line carries the config digest. The two line logs are append-only streams (flushed per
line, so a crash loses at most the line being written); metrics.json is rewritten atomically.
Only the main process (rank 0) writes: other ranks get a RunLog with `enabled=False`.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ptycho_nl.io_utils import atomic_write_json


def utc_iso() -> str:
    """ISO-8601 UTC with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; the failure record says what happened
    return value


class RunLog:
    """Writer of the three log files of one run directory."""

    def __init__(self, run_dir: Path, digest: str, *, enabled: bool = True, echo: bool = False):
        self.logs_dir = Path(run_dir) / "logs"
        self.digest = digest
        self.enabled = enabled
        self.echo = echo
        if enabled:
            self.logs_dir.mkdir(parents=True, exist_ok=True)

    @property
    def training_log(self) -> Path:
        return self.logs_dir / "training.log"

    @property
    def events_path(self) -> Path:
        return self.logs_dir / "events.jsonl"

    @property
    def metrics_path(self) -> Path:
        return self.logs_dir / "metrics.json"

    def info(self, message: str) -> None:
        """One human line: `<UTC> config_digest=<sha256> <message>`."""
        if not self.enabled:
            return
        line = f"{utc_iso()} config_digest={self.digest} {message}\n"
        with open(self.training_log, "a", encoding="utf-8") as fh:
            fh.write(line)
        if self.echo:
            sys.stderr.write(message + "\n")

    def event(self, kind: str, **fields: Any) -> None:
        """One JSON object per line with time, kind and config_digest."""
        if not self.enabled:
            return
        record = {"time": utc_iso(), "kind": kind, "config_digest": self.digest}
        record.update({k: _finite_or_none(v) for k, v in fields.items()})
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        if self.enabled:
            atomic_write_json(self.metrics_path, {"config_digest": self.digest, **metrics})

    def read_metrics(self) -> dict[str, Any] | None:
        """metrics.json of an earlier session of this run (for --resume), or None."""
        if not self.metrics_path.is_file():
            return None
        return json.loads(self.metrics_path.read_text(encoding="utf-8"))
