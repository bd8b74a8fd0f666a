"""The root `tools` app: every command group is registered, and a broken one fails loudly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.main import get_command
from typer.testing import CliRunner

from tools.cli import app

EXPECTED = {
    "attempt",
    "plan",
    "initiative",
    "phase",
    "status-line",
    "status",
    "specs",
    "findings",
    "gate",
    "readiness",
    "budget",
    "report",
    "verify",
}


def _tools(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "tools", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def test_every_command_group_is_in_the_help():
    assert set(get_command(app).commands) == EXPECTED
    out = _tools("--help")
    assert out.returncode == 0, out.stderr
    listed = {line.split()[1] for line in out.stdout.splitlines() if line.startswith("│ ")}
    assert listed >= EXPECTED


def test_a_verb_module_that_cannot_be_imported_is_an_error_not_a_missing_group():
    # `None` in sys.modules makes importing that module fail, as a rename would.
    code = "import sys\nsys.modules['tools.plan.cli'] = None\nimport tools.cli\n"
    out = _tools(code=code)
    assert out.returncode != 0
    assert "tools.plan.cli" in out.stderr and "Error" in out.stderr


def test_usage_errors_of_any_verb_follow_the_output_contract(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLS_ROOT", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["plan", "set", "A-001", "--json"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["data"] is None
    assert payload["error"].startswith("plan set: Missing option '--status'")
    text = runner.invoke(app, ["phase", "set", "A-001"])
    assert text.exit_code == 2 and text.stdout == ""
    assert text.stderr.startswith("error: phase set: Missing argument 'phase'")
    assert len(text.stderr.strip().splitlines()) == 1
    # A bare group still shows its help rather than an error.
    bare = runner.invoke(app, ["plan"])
    assert "Usage" in bare.output and "error:" not in bare.output


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_bracketed_names_in_help_texts_survive_rich_markup():
    # Rich reads `[tool.x]` as a style tag and drops it unless escaped (`\[`): the help of
    # `tools findings` once said "`findings` in )".
    import re

    runner = CliRunner()
    checked = 0
    for path, command in _commands(get_command(app)):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        tokens = {t for text in texts for t in re.findall(r"\\?(\[[A-Za-z][\w.-]*\])", text)}
        if not tokens:
            continue
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        for token in tokens:
            assert token in result.output, f"tools {' '.join(path)} --help lost {token}"
            checked += 1
    assert checked >= 2  # the findings group and --budget-file name a pyproject table


def test_help_paragraphs_reflow_and_lists_keep_their_lines():
    from tools.common.help_text import reflow

    text = "Title line.\n\nOne sentence wrapped\nat the source's width.\n\n- item one\n- item two\n\nUse:\n    tools x --json"
    assert reflow(text) == (
        "Title line.\n\nOne sentence wrapped at the source's width.\n\n"
        "- item one\n- item two\n\nUse:\n    tools x --json"
    )


def test_both_command_lines_print_prose_help_reflowed_to_the_terminal():
    # The demo's second paragraph is wrapped at 100 columns in its docstring; on a wide
    # terminal it must print as one line, not broken where the source was.
    from ptycho_nl.cli import app as ptycho_app

    runner = CliRunner()
    wide = {"COLUMNS": "400"}
    demo = runner.invoke(ptycho_app, ["demo", "--help"], env=wide)
    assert demo.exit_code == 0, demo.output
    assert (
        "supervised network, ePIE, and each network refined by ePIE) with independent"
        in demo.output
    )
    budget = runner.invoke(app, ["budget", "--help"], env=wide)
    assert (
        "(training manifest.json, recon.json, study phase manifests, shards.json)" in budget.output
    )
