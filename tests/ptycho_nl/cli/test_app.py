"""The `ptycho-nl` app: every command group is registered, and every command speaks `--json`."""

import json
import os
import sys

import pytest
import typer
from typer.testing import CliRunner

from ptycho_nl.cli import app, main

runner = CliRunner()
COMMANDS = (
    "simulate", "validate", "train", "reconstruct", "evaluate", "study", "demo", "report",
    "trace-memory", "import", "export", "inspect", "resolution",
)  # fmt: skip


def _leaves(group, path=()):
    """Every runnable command of the app, found by walking its click tree (new ones included)."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            yield from _leaves(command, (*path, name))
        else:
            yield [*path, name]


LEAVES = list(_leaves(typer.main.get_command(app)))


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")}
    assert set(COMMANDS) <= listed, listed
    study = runner.invoke(app, ["study", "--help"])
    assert study.exit_code == 0 and "run" in study.output


@pytest.mark.parametrize("command", LEAVES, ids=" ".join)
def test_every_command_takes_json(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "--json" in result.output and "Print one JSON object" in result.output


def test_json_errors_are_the_envelope(tmp_path):
    result = runner.invoke(app, ["report", "study", str(tmp_path / "missing"), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "ok": False,
        "data": None,
        "error": f"{tmp_path / 'missing'}: not a directory",
    }
    result = runner.invoke(app, ["report", "study", str(tmp_path), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and "no phase manifests" in payload["error"]


def test_main_sets_the_thread_policy_before_any_command(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(sys, "argv", ["ptycho-nl", "--help"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 0
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.parametrize("as_json", [False, True])
def test_usage_errors_are_one_line_or_the_envelope_with_exit_2(as_json):
    args = ["train", "--modle", "pinn"] + (["--json"] if as_json else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    if as_json:
        envelope = json.loads(result.stdout)
        assert envelope["ok"] is False and "No such option: --modle" in envelope["error"]
    else:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: train: No such option: --modle")
        assert "--model" in lines[0]  # the suggestion survives
