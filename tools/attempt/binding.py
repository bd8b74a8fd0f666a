"""Evidence binding: a RED/GREEN/collection counts only if the tool itself ran pytest.

Before the run the command is resolved to the Python interpreter that will run pytest (`python -m
pytest`, or a `pytest`/`py.test` entry point whose shebang names a Python). The tool injects its
probe plugin (`probe/_tools_attempt_probe.py`, through PYTHONPATH and `-p`) and asks for JUnit XML
in the hub. After the run the probe's report must exist, name the same interpreter (real paths)
and the same JUnit file, and agree with the exit code; the counts come from that JUnit file only.
Rules: specs/attempt_reports.md, "Evidence binding".
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from pydantic import Field, ValidationError

from tools.attempt.records import InterpreterFacts, Record
from tools.common.output import CommandError

PROBE_MODULE = "_tools_attempt_probe"
PROBE_DIR = Path(__file__).resolve().parent / "probe"
PROBE_ENV = "TOOLS_ATTEMPT_PROBE"
PYTEST_SCRIPTS = ("pytest", "py.test")
ASK_TIMEOUT_S = 30.0


class ProbeFacts(Record):
    """What the probe plugin wrote from inside the pytest process (`<name>.probe.json`)."""

    executable: str
    prefix: str
    python: str
    pytest: str
    junitxml: str | None = None
    exit_status: int
    node_ids: list[str] = Field(default_factory=list)


def _which(program: str, cwd: Path) -> Path | None:
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        return path if path.is_file() else None
    found = shutil.which(program)
    return Path(found) if found else None


def _shebang_interpreter(script: Path) -> str | None:
    """The interpreter a script's first line names, including pip's `/bin/sh` trampoline for
    long paths (`'''exec' /long/path/python "$0" "$@"`) and `/usr/bin/env python3`."""
    try:
        with open(script, "rb") as fh:
            head = fh.read(1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    words = shlex.split(head[0][2:].strip()) or [""]
    if Path(words[0]).name == "sh" and len(head) > 1 and head[1].startswith("'''exec' "):
        words = shlex.split(head[1][len("'''exec' ") :])
    if Path(words[0]).name == "env" and len(words) > 1:
        words = words[1:]
    return words[0]


def _is_script(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def _real_python(path: Path, cwd: Path) -> Path | None:
    """The real interpreter behind `path`: itself when it is a binary; for a launcher script
    (a pyenv or conda shim) the interpreter it starts, asked directly (`-c`, ~50 ms)."""
    if not _is_script(path):
        return path.resolve()
    try:
        out = subprocess.run(
            [str(path), "-c", "import os, sys; print(os.path.realpath(sys.executable))"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=ASK_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    found = Path(lines[-1]) if out.returncode == 0 and lines else None
    return found if found is not None and found.is_absolute() and found.is_file() else None


def resolve_interpreter(argv: list[str], cwd: Path) -> Path:
    """The real path of the Python that will run pytest for `argv`; CommandError (one line)
    when `argv` is not `python -m pytest ...` or a `pytest` entry point of a Python.

    A `pytest` whose first line names no Python (a pyenv shim, say) is accepted when a
    `python` next to it answers for the same environment."""
    program = Path(argv[0]).name if argv else ""
    if program.startswith("python") and argv[1:3] == ["-m", "pytest"]:
        found = _which(argv[0], cwd)
        if found is None:
            raise CommandError(f"command not found: {argv[0]!r}")
        interpreter = _real_python(found, cwd)
        if interpreter is None:
            raise CommandError(f"{found} is not a Python interpreter (it did not answer -c)")
        return interpreter
    if program in PYTEST_SCRIPTS:
        script = _which(argv[0], cwd)
        if script is None:
            raise CommandError(f"command not found: {argv[0]!r}")
        named = _shebang_interpreter(script)
        candidate = _which(named, cwd) if named else None
        if named is None or candidate is None or not Path(named).name.startswith("python"):
            candidate = script.parent / "python"  # a launcher: its sibling python, if any
        interpreter = _real_python(candidate, cwd) if candidate.is_file() else None
        if interpreter is None:
            raise CommandError(
                f"{script} is not a Python pytest entry point (its first line names "
                f"{named or 'no interpreter'}): run `python -m pytest ...`"
            )
        return interpreter
    raise CommandError(
        f"a RED, GREEN or collection must run pytest (`python -m pytest ...` or `pytest ...`), "
        f"found {argv[:3]}"
    )


def launch_files(log: Path) -> tuple[Path, Path]:
    """The JUnit XML and probe report the tool asks for, next to the run's log."""
    return log.with_suffix(".junit.xml"), log.with_suffix(".probe.json")


def launch_argv(argv: list[str], junit: Path) -> list[str]:
    """The command the tool runs: the probe loaded first (`-p` right after the program) and the
    JUnit option last, so that it wins over one the caller passed."""
    split = 3 if argv[1:3] == ["-m", "pytest"] else 1
    return [*argv[:split], "-p", PROBE_MODULE, *argv[split:], f"--junitxml={junit}"]


def launch_env(probe: Path) -> dict[str, str]:
    """The caller's environment with the probe's folder first on PYTHONPATH."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(PROBE_DIR) + (os.pathsep + path if path else "")
    env[PROBE_ENV] = str(probe)
    return env


def read_probe(path: Path | None) -> ProbeFacts | None:
    """The probe's report, or None when pytest (with the probe loaded) never wrote one."""
    if path is None:
        return None
    try:
        return ProbeFacts.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None


def interpreter_facts(resolved: str, probe: ProbeFacts | None) -> InterpreterFacts | None:
    if probe is None:
        return None
    return InterpreterFacts(
        resolved=resolved,
        executable=probe.executable,
        prefix=probe.prefix,
        python=probe.python,
        pytest=probe.pytest,
    )


def binding_problem(
    *,
    resolved: str,
    probe: ProbeFacts | None,
    junit: Path | None,
    junit_read: bool,
    exit_code: int,
) -> str | None:
    """Why the run is not bound to a pytest the tool ran, or None when it is."""
    if probe is None:
        return "no report from the tool's pytest probe: the command did not run pytest"
    if probe.executable != resolved:
        return f"pytest ran in {probe.executable}, not in the resolved interpreter {resolved}"
    # `<kind>/<name>.junit.xml`, compared within the hub so that a moved clone still verifies.
    if junit is None or Path(probe.junitxml or "").parts[-2:] != junit.parts[-2:]:
        return f"pytest wrote JUnit XML to {probe.junitxml}, not where the tool asked"
    if not junit_read:
        return "the JUnit XML the tool asked for is missing or unreadable"
    if probe.exit_status != exit_code:
        return f"exit code {exit_code} but pytest reported exit status {probe.exit_status}"
    return None
