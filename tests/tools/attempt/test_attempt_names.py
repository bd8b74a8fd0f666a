"""Slugs, run names and pytest detection: the small pure rules at the boundary."""

from __future__ import annotations

import pytest

from tools.attempt.names import focus_slug, sanitize_slug
from tools.attempt.pytest_outcome import is_pytest_command
from tools.common.output import CommandError


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Fix Add", "fix-add"), ("phase_E6: diff3d!", "phase-e6-diff3d"), ("a--b", "a-b")],
)
def test_slugs_are_lowered_to_a_safe_alphabet(text: str, slug: str):
    assert sanitize_slug(text) == slug


@pytest.mark.parametrize(
    ("focus", "slug"),
    [
        (
            "ePIE speed: fixed partitions, memoised preconditioners",
            "epie-speed-fixed-partitions-memoised",
        ),
        ("Fix ../../etc/passwd handling", "fix-etc-passwd-handling"),
        ("a" * 80, "a" * 40),
        ("!!! ???", None),
    ],
)
def test_default_hub_names_come_from_the_focus(focus: str, slug: str | None):
    assert focus_slug(focus) == slug


@pytest.mark.parametrize("text", ["../../x", "a/b", "..", "a\\b", "!!!", ""])
def test_path_like_or_empty_slugs_are_refused(text: str):
    with pytest.raises(CommandError, match="invalid slug"):
        sanitize_slug(text)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pytest", "-q"], True),
        (["/venv/bin/py.test"], True),
        (["python", "-m", "pytest", "tests"], True),
        (["/usr/bin/python3.11", "-m", "pytest"], True),
        (["python", "-m", "pip", "list"], False),
        (["echo", "pytest"], False),
        ([], False),
    ],
)
def test_pytest_commands_are_recognised(argv: list[str], expected: bool):
    assert is_pytest_command(argv) is expected
