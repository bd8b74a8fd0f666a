"""`tools verify`: the repository-wide check of every attempt hub and every hub the ledger cites.

The checks are `tools.attempt.verify` (specs/attempt_reports.md, "Verification"); this module is
the thin command, imported at start-up, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import typer

from tools.common.output import JsonFlag, reporting


def verify_cmd(as_json: JsonFlag = False) -> None:
    """Verify every attempt hub and every hub the ledger cites: record seal, file hashes,
    verdicts and counts re-derived from the stored files, times, summary.md (exit 1 on any)."""
    from tools.attempt.verify import report_verification, verify_repository
    from tools.common.fsutil import find_repo_root

    with reporting(as_json):
        report = verify_repository(find_repo_root())
    report_verification(report, as_json=as_json)


def register(app: typer.Typer) -> None:
    """Add the top-level `verify` verb to the root `tools` app."""
    app.command("verify")(verify_cmd)
