"""Gate definitions are read strictly: every bad file is one GateError line naming it."""

from __future__ import annotations

import pytest

from ptycho_nl.gates.checks import CheckRegistry, run_gate
from ptycho_nl.gates.definitions import load_definition
from ptycho_nl.gates.model import GateError, judged, not_measured

REG = CheckRegistry("demo")


@REG.item("above", minimum=1.0)
def _above(target, t):
    """The target's value is at least `minimum`."""
    return judged(target["value"] >= t["minimum"], target["value"], t["minimum"], "value")


@REG.item("telemetry")
def _telemetry(target, t):
    return not_measured("no samples")


@REG.item("reader")
def _reader(target, t):
    raise GateError(f"{target['file']}: missing (expected a JSON object)")


def _write(tmp_path, text: str):
    path = tmp_path / "gate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_definition_keeps_item_order_thresholds_and_defaults(tmp_path):
    path = _write(
        tmp_path,
        '[gate]\nname = "demo"\n\n[items.telemetry]\nmandatory = false\n\n'
        "[items.above]\nminimum = 3\n",
    )
    definition = load_definition(path, REG)
    assert [i.name for i in definition.items] == ["telemetry", "above"]
    assert definition.items[0].mandatory is False and definition.items[1].thresholds == {
        "minimum": 3
    }
    report = run_gate(definition, REG, {"value": 2.0}, target_label="t")
    assert report.item("above").verdict == "fail" and report.item("above").threshold == 3
    assert report.item("telemetry").verdict == "not_measured" and not report.passed
    assert run_gate(definition, REG, {"value": 5}, target_label="t").passed  # optional n/m


def test_not_measured_on_a_mandatory_item_fails_the_gate(tmp_path):
    definition = load_definition(_write(tmp_path, "[items.telemetry]\n"), REG)
    report = run_gate(definition, REG, {}, target_label="t")
    assert not report.passed and report.failing(mandatory_only=True) == ["telemetry"]


def test_a_check_that_cannot_read_its_file_fails_with_that_line(tmp_path):
    definition = load_definition(_write(tmp_path, "[items.reader]\n"), REG)
    report = run_gate(definition, REG, {"file": "/x/metrics.json"}, target_label="t")
    item = report.item("reader")
    assert (
        item.verdict == "fail" and item.note == "/x/metrics.json: missing (expected a JSON object)"
    )
    wrong = run_gate(
        load_definition(_write(tmp_path, "[items.above]\n"), REG), REG, [], target_label="t"
    )
    assert wrong.item("above").verdict == "fail"
    assert wrong.item("above").note.startswith("unexpected content (TypeError")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[items.bogus]\n", "[items.bogus]: unknown item (gate demo knows: above, telemetry"),
        ("[items.above]\nmaximum = 2\n", "unknown threshold 'maximum' (expected one of: minimum)"),
        ('[items.above]\nminimum = "high"\n', "threshold minimum expected float, found str"),
        ("[items.above]\nminimum = true\n", "threshold minimum expected float, found bool"),
        ('[items.above]\nmandatory = "yes"\n', "mandatory expected true/false"),
        ("[items]\nabove = 3\n", "[items.above]: expected a table, found int"),
        ("[gate]\nname = 'x'\n", "expected at least one [items.<name>] table"),
        ("[extra]\n[items.above]\n", "unknown section(s) extra"),
        ("[gate]\ncolour = 'red'\n[items.above]\n", "[gate] takes only name and description"),
        ("[items.above\n", "not valid TOML"),
    ],
)
def test_bad_definitions_are_one_line_naming_the_file(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(GateError) as err:
        load_definition(path, REG)
    line = str(err.value)
    assert line.startswith(str(path)) and message in line and "\n" not in line


def test_a_missing_definition_is_named(tmp_path):
    with pytest.raises(GateError, match="gate definition not found"):
        load_definition(tmp_path / "none.toml", REG)


def test_a_registry_refuses_a_name_twice():
    reg = CheckRegistry("x")
    reg.item("a")(lambda t, th: None)
    with pytest.raises(ValueError, match="registered twice"):
        reg.item("a")(lambda t, th: None)
    with pytest.raises(ValueError, match="defined twice"):
        reg.merged(reg)
