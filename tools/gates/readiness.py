"""`tools readiness STAGE`: a readiness report assembled from checks that run now.

The stage's items come from `specs/gates/readiness_<STAGE>.toml` (the repository's own, else
the library's); the checks are `ptycho_nl.gates.readiness` plus `pytest_gates` here (the named
gates of plans/gates.json). Smoke runs, their evidence and the report go to
`plans/readiness/<STAGE>/<UTC>/` (report.md, report.json). The library is imported inside the
functions: `tools` starts without torch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ptycho_nl.io_utils import atomic_write_text
from tools.common.fsutil import utc_stamp
from tools.common.layout import plans_dir
from tools.common.output import CommandError

_STAGE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def tools_checks(root: Path):
    """The checks `tools` adds to a stage (a `CheckRegistry`)."""
    from ptycho_nl.gates.checks import CheckRegistry
    from ptycho_nl.gates.model import failed, judged, not_measured

    registry = CheckRegistry("readiness_tools")

    @registry.item("pytest_gates", names="")
    def pytest_gates(target: Any, t: Any):
        """The named pytest gates of plans/gates.json pass (names: comma list, empty = all)."""
        from tools.plan.gates import load_gates, run_gate

        gates = load_gates(root) if (plans_dir(root) / "gates.json").is_file() else {}
        wanted = [n.strip() for n in str(t["names"]).split(",") if n.strip()] or list(gates)
        command = " && ".join(f"tools gate run {n}" for n in wanted) or "tools gate run NAME"
        unknown = [n for n in wanted if n not in gates]
        if unknown:
            return failed(
                unknown,
                "defined in plans/gates.json",
                "plans/gates.json",
                "no such gate",
                command=command,
            )
        if not wanted:
            return not_measured(
                "no gate in plans/gates.json", evidence="plans/gates.json", command=command
            )
        results = [run_gate(root, n, gates[n]) for n in wanted]
        bad = [f"{r.name} ({r.reason})" for r in results if not r.ok]
        summary = {r.name: f"{r.passed} passed, {r.failed} failed" for r in results}
        return judged(
            not bad,
            summary,
            "every gate ok",
            "plans/gates.json",
            f"failing: {', '.join(bad)}" if bad else "",
            command=command,
        )

    return registry


def stage_definition_path(root: Path, stage: str) -> Path:
    from ptycho_nl.gates.definitions import definition_path

    own = root / "specs" / "gates" / f"readiness_{stage}.toml"
    return own if own.is_file() else definition_path(f"readiness_{stage}")


def stage_readiness(root: Path, stage: str) -> dict[str, Any]:
    """Run the stage's checks; write report.md and report.json; return the report's dict."""
    from ptycho_nl.gates.checks import run_gate
    from ptycho_nl.gates.definitions import load_definition
    from ptycho_nl.gates.model import GateError
    from ptycho_nl.gates.readiness import READINESS_CHECKS, ReadinessTarget
    from ptycho_nl.gates.render import render_readiness

    if not _STAGE.match(stage):
        raise CommandError(f"stage {stage!r}: expected lower-case letters, digits, '_' or '-'")
    registry = READINESS_CHECKS.merged(tools_checks(root), "readiness")
    path = stage_definition_path(root, stage)
    if not path.is_file():
        raise CommandError(f"{path}: no stage definition for {stage!r}")
    try:
        definition = load_definition(path, registry)
    except GateError as exc:
        raise CommandError(str(exc), exit_code=1) from None
    work = plans_dir(root) / "readiness" / stage / utc_stamp()
    work.mkdir(parents=True, exist_ok=True)
    report = run_gate(definition, registry, ReadinessTarget(root, work), target_label=str(root))
    md = atomic_write_text(work / "report.md", render_readiness(report, stage))
    js = atomic_write_text(work / "report.json", report.model_dump_json(indent=2) + "\n")
    data = report.model_dump(mode="json")
    data.update(
        stage=stage,
        status="READY" if report.passed else "NOT READY",
        written={"markdown": str(md), "json": str(js)},
    )
    return data
