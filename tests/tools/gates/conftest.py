"""Fixtures for `tools gate` and `tools readiness STAGE`: a real git repository in tmp_path, the
CLI runner, and one real tiny training run (trained once, copied per test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.cli import app


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("TOOLS_ROOT", str(root))
    return root


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A completed 5-epoch run of the tiny preset (CPU, one thread)."""
    import torch

    from ptycho_nl.simulate import PRESETS, simulate_dataset
    from ptycho_nl.train import PRESET_CONFIGS, train

    base = tmp_path_factory.mktemp("tools_gate_run")
    data = simulate_dataset(PRESETS["tiny"], base / "tiny.npz")
    config = PRESET_CONFIGS["tiny"].model_copy(update={"epochs": 5, "device": "cpu"})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(config, data, base / "run", progress=False)
    finally:
        torch.set_num_threads(before)
    assert result.status == "completed"
    return base / "run"


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))
