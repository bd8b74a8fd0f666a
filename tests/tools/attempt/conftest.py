"""Fixtures for the `tools attempt` tests: the throw-away repository and the in-process CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from attempt_repo import make_repo
from typer.testing import CliRunner


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed git repository; the tests run inside it (cwd and TOOLS_ROOT)."""
    root = make_repo(tmp_path / "proj")
    monkeypatch.chdir(root)
    monkeypatch.setenv("TOOLS_ROOT", str(root))
    return root


@pytest.fixture
def cli() -> Callable[..., object]:
    """Invoke the real root `tools` app in-process; returns the click Result."""
    from tools.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def cli_json(cli) -> Callable[..., tuple[int, dict]]:
    """Invoke with --json appended before `--`; returns (exit code, parsed stdout object)."""

    def invoke(*args: str) -> tuple[int, dict]:
        args_list = list(args)
        cut = args_list.index("--") if "--" in args_list else len(args_list)
        result = cli(*args_list[:cut], "--json", *args_list[cut:])
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1, f"--json must print one line, got: {result.stdout!r}"
        payload = json.loads(lines[0])
        assert set(payload) == {"ok", "data", "error"}
        return result.exit_code, payload

    return invoke
