"""specs/gates.md, the TOML definitions under specs/gates/ and the check registries agree, in
both directions: no item in a file that the code lacks, no check the file leaves out."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

from ptycho_nl.gates.definitions import SPECS_GATES, definition_path, load_definition
from ptycho_nl.gates.post_training import CHECKS
from ptycho_nl.gates.post_training_files import REPORT_SECTIONS
from ptycho_nl.gates.readiness import READINESS_CHECKS
from tools.gates.readiness import tools_checks

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "gates.md"


def _post_training_rows() -> dict[str, tuple[bool, str]]:
    """item -> (mandatory, thresholds cell) from the post-training table of specs/gates.md."""
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("## The post-training gate", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if len(cells) >= 3 else None
        if match:
            rows[match.group(1)] = (cells[1] == "yes", cells[2])
    return rows


def test_the_post_training_file_names_every_check_and_nothing_else():
    definition = load_definition(definition_path("post_training"), CHECKS)
    assert {i.name for i in definition.items} == set(CHECKS.names())
    assert SPECS_GATES == ROOT / "specs" / "gates"


def test_the_spec_table_is_the_definition_with_the_code_defaults():
    definition = load_definition(definition_path("post_training"), CHECKS)
    rows = _post_training_rows()
    assert list(rows) == [i.name for i in definition.items]
    raw = tomllib.loads(definition_path("post_training").read_text(encoding="utf-8"))["items"]
    for item in definition.items:
        mandatory, thresholds = rows[item.name]
        assert mandatory is item.mandatory, item.name
        documented = dict(re.findall(r"`(\w+)` \(([^)]+)\)", thresholds))
        defaults = CHECKS.checks[item.name].defaults
        assert set(documented) == set(defaults), item.name
        for key, value in defaults.items():
            assert float(documented[key]) == float(value), (item.name, key)
            # the shipped file writes the same value as the code's default
            assert float(raw[item.name].get(key, value)) == float(value), (item.name, key)


def test_the_report_sections_are_the_documented_ones():
    text = SPEC.read_text(encoding="utf-8")
    listed = re.search(r"Sections, in order \(`## <name>`\):\n(.+?)\.\n", text, re.DOTALL)
    assert listed is not None
    names = [s.strip() for s in " ".join(listed.group(1).split()).split(",")]
    assert tuple(names) == REPORT_SECTIONS


def test_the_readiness_stages_use_exactly_the_readiness_checks(tmp_path):
    registry = READINESS_CHECKS.merged(tools_checks(tmp_path), "readiness")
    used = set()
    for path in sorted(SPECS_GATES.glob("readiness_*.toml")):
        used |= {i.name for i in load_definition(path, registry).items}
    assert used == set(registry.names())
