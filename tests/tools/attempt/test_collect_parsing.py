"""`--collect-only -q` output parsing, against a real pytest run with awkward parameter ids."""

import subprocess
import sys

from tools.attempt.pytest_outcome import parse_collect_output


def test_parametrized_ids_with_spaces_are_counted(tmp_path):
    (tmp_path / "test_ids.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('status', ['In Progress', 'done', 'a [b] c'])\n"
        "def test_status(status):\n    assert status\n\n"
        "def test_plain():\n    pass\n"
    )
    log = tmp_path / "collect.log"
    with open(log, "wb") as fh:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                "test_ids.py",
            ],
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=True,
        )
    ids = parse_collect_output(log)
    assert len(ids) == 4
    assert "test_ids.py::test_status[In Progress]" in ids
    assert "test_ids.py::test_plain" in ids


def test_error_and_summary_lines_are_not_node_ids(tmp_path):
    log = tmp_path / "collect.log"
    log.write_text(
        "tests/a.py::test_x\n"
        "ERROR tests/b.py::test_y - ImportError: no module\n"
        "2 tests collected in 0.01s\n"
    )
    assert parse_collect_output(log) == ["tests/a.py::test_x"]
