"""The README's first lines are the fresh-machine commands, and CI runs the test one verbatim."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:6]
    assert head[0].startswith("# ")
    assert "```bash" in head
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("ptycho-nl demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert _readme_commands()[1] in ci_lines


def _documented_ptycho_commands() -> list[list[str]]:
    """Every `ptycho-nl ...` line of the README's command overview and the quickstart."""
    texts = [
        (ROOT / "README.md").read_text().split("## Command overview", 1)[1],
        (ROOT / "docs" / "quickstart.md").read_text(),
    ]
    lines = [line.split("#", 1)[0].split() for text in texts for line in text.splitlines()]
    return [words for words in lines if words[:1] == ["ptycho-nl"]]


def test_documented_commands_use_only_existing_options():
    from typer.testing import CliRunner

    from ptycho_nl.cli import app

    runner = CliRunner()
    documented = _documented_ptycho_commands()
    assert any(words[:4] == ["ptycho-nl", "train", "--model", "pinn"] for words in documented)
    for words in documented:
        path = words[1:3] if words[1] == "study" else words[1:2]
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, words
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, f"{' '.join(words)}: {option} is not an option"
