"""JUnit XML and terminal-summary parsing agree on one real pytest run with every outcome kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.attempt.pytest_outcome import parse_collect_output, parse_junit, parse_outcome, scan_log

SUITE = """import pytest


def test_pass():
    assert True


def test_assert():
    assert 1 == 2


def test_name_error():
    undefined_name  # noqa: F821


def test_fail_call():
    pytest.fail("explicit")


@pytest.mark.skip(reason="not today")
def test_skip():
    pass


@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False


@pytest.mark.xfail(strict=True, reason="should fail")
def test_xpass_strict():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("setup broke")


def test_setup_error(broken):
    pass


class TestGroup:
    def test_in_class(self):
        assert "a" == "b"

    def test_deselected_one(self):
        pass
"""


def run_suite(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "test_mixed.py").write_text(SUITE)
    log, junit = tmp_path / "out.log", tmp_path / "out.xml"
    with open(log, "wb") as fh:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_mixed.py",
             "-k", "not deselected_one", f"--junitxml={junit}"],
            cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT, timeout=60,
        )  # fmt: skip
    return log, junit


def test_every_outcome_kind_is_counted_and_both_parsers_agree(tmp_path: Path):
    log, junit = run_suite(tmp_path)
    from_junit = parse_outcome(log, junit)
    from_summary = parse_outcome(log, None)
    assert (from_junit.source, from_summary.source) == ("junit", "summary")
    expected = {
        "passed": 1, "failed": 5, "errors": 1, "skipped": 1, "xfailed": 1, "deselected": 1,
        "collected": 10,
    }  # fmt: skip
    for key, value in expected.items():
        assert getattr(from_junit, key) == value, key
        assert getattr(from_summary, key) == value, key

    failures = {f.node_id: f for f in from_junit.failures}
    assert set(failures) == {
        "test_mixed.py::test_assert",
        "test_mixed.py::test_name_error",
        "test_mixed.py::test_fail_call",
        "test_mixed.py::test_xpass_strict",
        "test_mixed.py::TestGroup::test_in_class",
    }
    assert [f.node_id for f in from_summary.failures] == [f.node_id for f in from_junit.failures]
    assertions = {node for node, f in failures.items() if f.assertion}
    assert assertions == {
        "test_mixed.py::test_assert",
        "test_mixed.py::test_fail_call",
        "test_mixed.py::TestGroup::test_in_class",
    }
    assert failures["test_mixed.py::test_name_error"].exception == "NameError"
    assert from_junit.errored[0].node_id == "test_mixed.py::test_setup_error"
    assert from_junit.errored[0].exception == "RuntimeError"


def test_junit_alone_has_no_deselected_count(tmp_path: Path):
    _, junit = run_suite(tmp_path)
    outcome = parse_junit(junit)
    assert (outcome.passed, outcome.failed, outcome.errors, outcome.deselected) == (1, 5, 1, 0)


def test_a_log_without_pytest_output_gives_no_outcome(tmp_path: Path):
    log = tmp_path / "plain.log"
    log.write_text("building...\ndone\n")
    outcome = parse_outcome(log, tmp_path / "missing.xml")
    assert outcome.source == "none" and outcome.ran == 0
    assert scan_log(log)["summary"] is None


def test_collect_output_lists_node_ids(tmp_path: Path):
    (tmp_path / "test_mixed.py").write_text(SUITE)
    log = tmp_path / "collect.log"
    with open(log, "wb") as fh:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"],
            cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT, timeout=60, check=True,
        )  # fmt: skip
    node_ids = parse_collect_output(log)
    assert len(node_ids) == 10
    assert node_ids[-1] == "test_mixed.py::TestGroup::test_deselected_one"


def test_a_junit_file_with_an_unknown_encoding_is_unreadable_not_a_crash(tmp_path: Path):
    # One byte of the XML declaration edited ("utf-8" -> "vtf-8", as the property test of
    # `tools verify` found): ElementTree raises LookupError, which must surface as the
    # documented ValueError so that verify reports the edit instead of crashing.
    from tools.attempt.pytest_outcome import junit_results

    report = tmp_path / "r.xml"
    report.write_text(
        '<?xml version="1.0" encoding="vtf-8"?><testsuites><testsuite time="0.1">'
        '<testcase classname="t" name="test_a" file="t.py"/></testsuite></testsuites>'
    )
    with pytest.raises(Exception) as caught:  # noqa: PT011 (the type is asserted below)
        parse_junit(report)
    assert caught.type is ValueError, f"{caught.type.__name__}: {caught.value}"
    assert "unreadable JUnit XML" in str(caught.value) and str(report) in str(caught.value)
    assert junit_results(report) == {}
