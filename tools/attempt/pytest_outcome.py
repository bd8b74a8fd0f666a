"""Parse what a pytest run did: JUnit XML first, the terminal output as fallback and complement.

JUnit XML (written by pytest itself, also under xdist) gives per-test results and exception
types; the terminal log adds what JUnit lacks (deselected, collected count, node ids of the
short summary). Logs are read line by line, so a 50 MB log is never held in memory.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tools.attempt.records import PytestFailure, PytestOutcome

ASSERTION_TYPES = {"AssertionError", "Failed"}
_SUMMARY = re.compile(
    r"^=*\s*(?P<counts>\d+ [a-z]+(?:, \d+ [a-z]+)*|no tests ran) in (?P<secs>[\d.]+)s\b"
)
_COUNT = re.compile(r"(\d+) (\w+)")
_COLLECTED = re.compile(r"^collected (\d+) items?(?: / (\d+) deselected)?")
_XDIST_ITEMS = re.compile(r"^\d+ workers? \[(\d+) items?\]")
_SHORT = re.compile(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$")
_LAST_LINE_TYPE = re.compile(r":\d+: (\w+(?:\.\w+)*)\s*$")
_MESSAGE_TYPE = re.compile(r"^(\w+(?:Error|Exception|Interrupt|Exit)|Failed):")
_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "error": "errors",
    "errors": "errors",
    "skipped": "skipped",
    "xfailed": "xfailed",
    "xpassed": "xpassed",
    "deselected": "deselected",
}


def is_pytest_command(argv: list[str]) -> bool:
    """`pytest ...`, `py.test ...`, `python -m pytest ...` (any python executable name)."""
    if not argv:
        return False
    exe = Path(argv[0]).name
    if exe in ("pytest", "py.test"):
        return True
    return exe.startswith("python") and argv[1:3] == ["-m", "pytest"]


def _exception_of(text: str, message: str) -> str | None:
    """The exception class: pytest ends a failure's text with `file:line: ExcType`."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines:
        match = _LAST_LINE_TYPE.search(lines[-1])
        if match:
            return match.group(1).rsplit(".", 1)[-1]
    match = _MESSAGE_TYPE.match(message)
    if match:
        return match.group(1)
    return "AssertionError" if message.startswith("assert") else None


def _failure(node_id: str, exception: str | None, message: str) -> PytestFailure:
    assertion = exception in ASSERTION_TYPES or (exception is None and message.startswith("assert"))
    return PytestFailure(
        node_id=node_id, exception=exception, message=message[:300], assertion=assertion
    )


def _node_id(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "")
    if not classname:
        return name  # collection errors: name is the module
    file = case.get("file")
    if file:
        module = file[:-3].replace("/", ".") if file.endswith(".py") else file
        rest = classname[len(module) :].lstrip(".") if classname.startswith(module) else ""
        return "::".join(part for part in (file, rest.replace(".", "::"), name) if part)
    return f"{classname}::{name}"


# What ET.parse raises on a damaged file: bad XML, an I/O error, or an encoding declaration
# that names no codec (LookupError; one edited byte of "utf-8" makes one).
UNREADABLE = (ET.ParseError, OSError, LookupError)


def parse_junit(path: Path) -> PytestOutcome:
    """Counts and failing tests from a pytest JUnit XML file (ValueError if unreadable)."""
    try:
        tree = ET.parse(path)
    except UNREADABLE as exc:
        raise ValueError(f"{path}: unreadable JUnit XML ({exc})") from exc
    outcome = PytestOutcome(source="junit")
    duration = 0.0
    for suite in tree.getroot().iter("testsuite"):
        duration += float(suite.get("time") or 0.0)
    for case in tree.getroot().iter("testcase"):
        node = _node_id(case)
        failure, error = case.find("failure"), case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            message = failure.get("message", "")
            exc_type = _exception_of(failure.text or "", message)
            if message.startswith("[XPASS(strict)]"):
                exc_type = "XPASS(strict)"
            outcome.failed += 1
            outcome.failures.append(_failure(node, exc_type, message))
        elif error is not None:
            message = error.get("message", "")
            outcome.errors += 1
            outcome.errored.append(
                PytestFailure(
                    node_id=node,
                    exception=_exception_of(error.text or "", message),
                    message=message[:300],
                )
            )
        elif skipped is not None:
            if skipped.get("type") == "pytest.xfail":
                outcome.xfailed += 1
            else:
                outcome.skipped += 1
        else:
            outcome.passed += 1
    outcome.duration_s = round(duration, 3)
    return outcome


def junit_results(path: Path) -> dict[str, str]:
    """Node id (as `_node_id` spells it) -> passed, failed, error or skipped; {} if unreadable."""
    try:
        tree = ET.parse(path)
    except UNREADABLE:
        return {}
    results: dict[str, str] = {}
    for case in tree.getroot().iter("testcase"):
        if case.find("failure") is not None:
            status = "failed"
        elif case.find("error") is not None:
            status = "error"
        elif case.find("skipped") is not None:
            status = "skipped"
        else:
            status = "passed"
        results[_node_id(case)] = status
    return results


def scan_log(path: Path) -> dict:
    """Facts from the terminal output: summary counts, collected, short-summary node ids."""
    facts: dict = {"summary": None, "collected": None, "deselected": None, "short": []}
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if match := _COLLECTED.match(line):
                facts["collected"] = int(match.group(1))
                if match.group(2):
                    facts["deselected"] = int(match.group(2))
            elif match := _XDIST_ITEMS.match(line):
                facts["collected"] = int(match.group(1))
            elif match := _SHORT.match(line):
                facts["short"].append((match.group(1), match.group(2), match.group(3) or ""))
            elif match := _SUMMARY.match(line.strip()):
                facts["summary"] = (match.group("counts"), float(match.group("secs")))
    return facts


def _from_summary(facts: dict) -> PytestOutcome:
    outcome = PytestOutcome(source="summary")
    counts, secs = facts["summary"]
    for number, word in _COUNT.findall(counts):
        field = _WORDS.get(word)
        if field:
            setattr(outcome, field, int(number))
    outcome.duration_s = secs
    for kind, node, message in facts["short"]:
        match = _MESSAGE_TYPE.match(message)
        exc_type = match.group(1) if match else None
        if kind == "FAILED":
            outcome.failures.append(_failure(node, exc_type, message))
        else:
            outcome.errored.append(PytestFailure(node_id=node, exception=exc_type, message=message))
    return outcome


def _adopt_short_ids(failures: list[PytestFailure], short_ids: list[str]) -> None:
    """Replace JUnit-derived ids by the printed node id with the same test name (xdist-safe)."""
    unused = list(short_ids)
    for failure in failures:
        name = failure.node_id.rsplit("::", 1)[-1]
        matches = [
            node
            for node in unused
            if node == name
            or node.endswith("::" + name)
            or node.removesuffix(".py").replace("/", ".") == name  # collection error: module
        ]
        if len(matches) == 1:
            failure.node_id = matches[0]
            unused.remove(matches[0])


def parse_outcome(
    log_path: Path, junit_path: Path | None, *, summary_fallback: bool = True
) -> PytestOutcome:
    """Best available outcome: JUnit counts completed by the log; the log alone as fallback
    unless `summary_fallback` is False (evidence runs: counts from the JUnit file only)."""
    facts = scan_log(log_path)
    outcome: PytestOutcome | None = None
    if junit_path is not None and junit_path.is_file():
        try:
            outcome = parse_junit(junit_path)
        except ValueError:
            outcome = None
    if outcome is None:
        if facts["summary"] is None or not summary_fallback:
            return PytestOutcome(source="none", collected=facts["collected"])
        outcome = _from_summary(facts)
    elif facts["summary"] is not None:
        # JUnit has no deselected count; the summary line does.
        for number, word in _COUNT.findall(facts["summary"][0]):
            if word == "deselected":
                outcome.deselected = int(number)
        # Prefer the exact node ids pytest printed in its short summary.
        _adopt_short_ids(outcome.failures, [n for k, n, _ in facts["short"] if k == "FAILED"])
        _adopt_short_ids(outcome.errored, [n for k, n, _ in facts["short"] if k == "ERROR"])
    if facts["collected"] is not None:
        outcome.collected = facts["collected"]
    else:  # no header (-q): count as pytest's header would, deselected included
        outcome.collected = outcome.ran + outcome.skipped + outcome.errors + outcome.deselected
    if facts["deselected"] is not None and not outcome.deselected:
        outcome.deselected = facts["deselected"]
    return outcome


def parse_collect_output(log_path: Path) -> list[str]:
    """Node ids printed by `pytest --collect-only -q` (one `path::name` per line)."""
    node_ids: list[str] = []
    with open(log_path, "rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace").strip()
            # Parametrize ids may hold spaces ("[In Progress-x]"); the path and names may not,
            # which also keeps out "ERROR path::name - reason" and warning lines.
            head = line.split("[", 1)[0]
            if "::" in head and " " not in head:
                node_ids.append(line)
    return node_ids
