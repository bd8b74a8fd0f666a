"""Helpers shared by the training CLI tests (a uniquely named module rather than conftest.py, so
`import` finds it whatever else is collected)."""

import json


def train_args(config, data, out) -> list[str]:
    """The options every training run in these tests passes."""
    return ["--config", str(config), "--data", str(data), "--out", str(out), "--no-progress"]


def summary_line(stdout: str) -> dict:
    """The JSON job summary: the last non-empty line of stdout."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])
