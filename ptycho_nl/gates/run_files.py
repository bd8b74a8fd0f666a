"""Read-only access to a training run directory (specs/training_outputs.md) for the checks.

Every reader raises `GateError` with one line naming the file and what was expected, so a
check that cannot read its evidence fails with that line as its note.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptycho_nl.gates.model import GateError


@dataclass
class RunFiles:
    """A run directory; files are read once, on first use."""

    root: Path
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> RunFiles:
        """A run directory that exists and was started by the trainer (has config.json)."""
        root = Path(path)
        if not root.is_dir():
            raise GateError(f"{root}: run directory not found")
        if not (root / "config.json").is_file() and not (root / "manifest.json").is_file():
            raise GateError(
                f"{root}: not a training run directory (expected config.json and manifest.json)"
            )
        return cls(root)

    # -- paths ------------------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def log_path(self) -> Path:
        return self.root / "logs" / "training.log"

    @property
    def events_path(self) -> Path:
        return self.root / "logs" / "events.jsonl"

    @property
    def metrics_path(self) -> Path:
        return self.root / "logs" / "metrics.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    # -- readers ----------------------------------------------------------------------------
    def json(self, name: str) -> dict[str, Any]:
        """A JSON object file relative to the run (NaN literals are read as floats)."""
        if name not in self._cache:
            path = self.root / name
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise GateError(f"{path}: missing (expected a JSON object)") from None
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise GateError(f"{path}: not valid JSON ({exc})") from None
            if not isinstance(raw, dict):
                raise GateError(f"{path}: expected a JSON object, found {type(raw).__name__}")
            self._cache[name] = raw
        return self._cache[name]

    def config(self) -> dict[str, Any]:
        return self.json("config.json")

    def manifest(self) -> dict[str, Any]:
        return self.json("manifest.json")

    def metrics(self) -> dict[str, Any]:
        return self.json("logs/metrics.json")

    def epochs(self) -> list[dict[str, Any]]:
        """metrics.json `epochs`, each a JSON object."""
        epochs = self.metrics().get("epochs")
        where = f"{self.metrics_path}: key epochs"
        if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
            raise GateError(f"{where}: expected a list of objects, found {epochs!r:.60}")
        return epochs

    def log_lines(self) -> list[str]:
        if "log" not in self._cache:
            try:
                text = self.log_path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                raise GateError(f"{self.log_path}: missing (expected the training log)") from None
            self._cache["log"] = text.splitlines()
        return self._cache["log"]

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        """(line number, object) of logs/events.jsonl; an unreadable line is an error."""
        if "events" not in self._cache:
            try:
                lines = self.events_path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                raise GateError(f"{self.events_path}: missing (expected JSON lines)") from None
            out = []
            for n, line in enumerate(lines, 1):
                try:
                    out.append((n, json.loads(line)))
                except json.JSONDecodeError:
                    raise GateError(
                        f"{self.events_path}:{n}: not a JSON object (half-written line?)"
                    ) from None
            self._cache["events"] = out
        return self._cache["events"]

    def failure_records(self) -> list[tuple[str, dict[str, Any]]]:
        """(file:line, record) of every failures/*.jsonl line."""
        out = []
        for path in sorted((self.root / "failures").glob("*.jsonl")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    out.append((f"{self.rel(path)}:{n}", json.loads(line)))
                except json.JSONDecodeError:
                    out.append((f"{self.rel(path)}:{n}", {"kind": "unreadable", "detail": line}))
        return out


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
