"""`tools budget [ID] [--check]` and its library function `collect_budget` (`register(app)`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import JsonFlag, emit, reporting


def collect_budget(root: Path, item: str | None = None, budget_file: Path | None = None):
    """The `BudgetReport` of the repository at `root` (tools/budget/accounting.py)."""
    from tools.budget.accounting import budget_report
    from tools.budget.rates import load_budget
    from tools.budget.records import job_computes, load_attempts
    from tools.common.fsutil import validate_item_id
    from tools.common.layout import active_dir

    if item is not None:
        validate_item_id(item)
    config = load_budget(root, budget_file)
    attempts = load_attempts(active_dir(root), root)
    return budget_report(config, attempts, job_computes(root, config.job_dirs), item)


def _text(report) -> str:
    cur = report.currency
    lines = [f"rates per device-hour ({cur}): {report.rates or 'none'} from {report.source or '-'}"]
    for i in report.items:
        left = "no budget" if i.budget is None else f"remaining {i.remaining:.4g} of {i.budget:g}"
        flag = " EXCEEDED" if i.exceeded else (" (projected over)" if i.projected_exceeded else "")
        jobs = sum(len(a.jobs) for a in i.attempts)
        lines.append(
            f"{i.item}: used {i.used:.4g} {cur} ({left}), projected {i.projected:.4g}; "
            f"{len(i.attempts)} attempt(s), {jobs} job(s){flag}"
        )
    if report.unlinked:
        cost = sum(j.cost for j in report.unlinked)
        lines.append(f"unlinked jobs: {len(report.unlinked)} costing {cost:.4g} {cur}")
    lines.append(f"total used: {report.total_used:.4g} {cur}")
    return "\n".join(lines)


def budget_cmd(
    item: Annotated[
        str | None, typer.Argument(help="An item ID (e.g. STRUCT-001); default: every item.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when a budget (an item's or the total) is exceeded."),
    ] = False,
    budget_file: Annotated[
        Path | None,
        typer.Option(
            "--budget-file",
            help="A TOML budget file instead of \\[tool.ptycho-nl.budget] in pyproject.toml.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Compute used by an item's attempts and the jobs they ran, against its budget.

    Sums the `compute` blocks of the job manifests (training manifest.json, recon.json, study
    phase manifests, shards.json) under `job_dirs`, costed at the rate table's price per
    device-hour; shows used / remaining / projected (planned device-hours). Every figure in
    --json names the record it came from. Exit codes: 0 ok (over budget only warns without
    --check), 1 exceeded with --check, 2 bad budget table or usage.
    """
    with reporting(as_json):
        from tools.common.fsutil import find_repo_root

        report = collect_budget(find_repo_root(), item, budget_file)
    over = report.exceeded
    error = f"budget exceeded: {', '.join(over)}" if over else None
    text = _text(report) + (f"\nwarning: {error}" if over and not check else "")
    failed = bool(over) and check
    emit(
        ok=not failed,
        data=report.model_dump(mode="json"),
        error=error if failed else None,
        as_json=as_json,
        text=text,
    )


def register(app: typer.Typer) -> None:
    app.command("budget")(budget_cmd)
