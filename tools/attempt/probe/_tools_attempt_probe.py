"""pytest plugin: report, from inside the pytest that ran, who ran it and what it collected.

`tools attempt run/collect` loads it with `-p _tools_attempt_probe` and names the output file in
$TOOLS_ATTEMPT_PROBE. It writes one JSON object at session end (controller only under xdist):
the interpreter (`sys.executable` resolved, `sys.prefix`, versions), the JUnit path pytest was
configured with, pytest's exit status and the collected node ids. A command that merely prints a
pytest-like summary never loads it, so it leaves no probe file: that is the evidence binding.
"""

from __future__ import annotations

import json
import os
import platform
import sys

import pytest

PROBE_ENV = "TOOLS_ATTEMPT_PROBE"
_NODE_IDS = pytest.StashKey[list]()


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[_NODE_IDS] = [item.nodeid for item in session.items]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(PROBE_ENV)
    config = session.config
    if not path or hasattr(config, "workerinput"):  # xdist workers: the controller reports
        return
    xmlpath = getattr(config.option, "xmlpath", None)
    facts = {
        "executable": os.path.realpath(sys.executable),
        "prefix": sys.prefix,
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "junitxml": os.path.abspath(xmlpath) if xmlpath else None,
        "exit_status": int(exitstatus),
        "node_ids": config.stash.get(_NODE_IDS, []),
    }
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(facts, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)
