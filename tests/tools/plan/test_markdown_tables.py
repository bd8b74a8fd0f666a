"""Markdown table rows: a `|` inside a cell is escaped on write and unescaped on read."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tools.common.markdown import escape_cell, render_row, split_row
from tools.plan.initiatives import new_initiative, read_phase_table, set_phase, status_line


def test_a_phase_title_with_a_pipe_round_trips_and_status_keeps_its_column(repo: Path):
    new_initiative(repo, "PIPE-001", title="t", phases=[("A", "Read | write"), ("B", "Plain")])
    plan = repo / "plans/active/PIPE-001/plan.md"
    assert "| A | Read \\| write | pending |" in plan.read_text()
    table = read_phase_table(plan)
    assert [(p.phase, p.title, p.status) for p in table.phases] == [
        ("A", "Read | write", "pending"),
        ("B", "Plain", "pending"),
    ]
    set_phase(repo, "PIPE-001", "A", status="complete", evidence="1")
    row = read_phase_table(plan).phases[0]
    assert (row.title, row.status, row.evidence) == ("Read | write", "complete", "Attempt #1")
    assert status_line(repo, "PIPE-001").startswith("Phase A COMPLETE (")


# Cells as a table holds them: one line, no outer whitespace (split_row strips cells).
cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=20,
).map(str.strip)


@given(st.lists(cell_text, min_size=1, max_size=6))
def test_render_then_split_gives_the_cells_back(cells: list[str]):
    assert split_row(render_row(cells)) == cells


def test_split_honours_escapes_and_optional_outer_pipes():
    assert split_row("| a \\| b | c |") == ["a | b", "c"]
    assert split_row("a | b") == ["a", "b"]
    assert split_row("| ends in an escaped pipe \\|") == ["ends in an escaped pipe |"]
    assert split_row("| C:\\path | x\\n |") == ["C:\\path", "x\\n"]  # other backslashes kept


def test_escape_cell_keeps_a_row_on_one_line():
    assert escape_cell("a|b\nc\r\nd") == "a\\|b c d"
