"""Fixtures for the `tools specs` tests: a real git repository in tmp_path, the CLI runner."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.cli import app


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git repository that `tools` treats as its root."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("TOOLS_ROOT", str(root))
    monkeypatch.delenv("TOOLS_LEDGER", raising=False)
    return root


@pytest.fixture
def cli():
    """Invoke the `tools` app in-process; returns the click Result."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke
