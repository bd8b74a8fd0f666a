"""The repository is ruff-clean (configuration in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is a dev extra; install .[dev]")
def test_ruff_check_is_clean():
    result = subprocess.run(
        ["ruff", "check", "--quiet", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_does_not_import_torch():
    # `tools` must answer quickly: importing it may not pull in torch.
    code = "import sys, tools.cli; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_ptycho_nl_help_does_not_import_torch():
    # Commands import torch inside their functions, so `ptycho-nl --help` answers quickly.
    code = "import sys, ptycho_nl.cli; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
