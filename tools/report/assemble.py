"""`build_session_report(root, since)`: every section of the session report (session.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tools.budget.records import JobCompute, parse_utc
from tools.report.session import (
    BudgetEntry,
    NextEntry,
    ReadinessEntry,
    SessionReport,
    attempt_entries,
    blocker_entries,
    check_entries,
)


def _budget(root: Path, config, attempts, jobs: list[JobCompute], since: datetime | None):
    from tools.budget.accounting import budget_report

    report = budget_report(config, attempts, jobs)
    recent = {j.ref for j in jobs if since is None or (j.finished and j.finished >= since)}
    # An attempt's own cost (its captured runs' CPU) counts since `since` when it finished then.
    finished = {f"{a.item_id}#{a.number}": parse_utc(a.finished_at) for a in attempts}
    out = []
    for item in report.items:
        costs = [j for a in item.attempts for j in a.jobs]
        own = sum(
            a.own_cost
            for a in item.attempts
            if since is None or ((done := finished.get(a.attempt)) is not None and done >= since)
        )
        out.append(
            BudgetEntry(
                item=item.item,
                used=item.used,
                used_since=round(sum(j.cost for j in costs if j.ref in recent) + own, 9),
                budget=item.budget,
                remaining=item.remaining,
                jobs=len(costs),
                records=[j.ref for j in costs] + [a.record for a in item.attempts],
            )
        )
    return report.currency, out


def _readiness(root: Path) -> list[ReadinessEntry]:
    from tools.common.layout import ledger_path
    from tools.plan.gates import readiness

    ledger = ledger_path(root).relative_to(root).as_posix()
    return [
        ReadinessEntry(item=r.item_id, ready=r.ready, reasons=r.reasons, record=ledger)
        for r in readiness(root, run_gates=False)
    ]


def _next(root: Path) -> NextEntry | None:
    from tools.common.layout import ledger_path
    from tools.plan.claims import default_owner, next_unclaimed, taken_by_others
    from tools.plan.ledger import Ledger

    path = ledger_path(root)
    item = next_unclaimed(Ledger.load(path), taken_by_others(root, default_owner()))
    if item is None:
        return None
    summary = item.summary()
    return NextEntry(
        item=item.item_id,
        title=item.title,
        priority=summary.get("priority"),
        record=f"{path.relative_to(root).as_posix()}:{summary.get('line')}",
    )


def build_session_report(
    root: Path, since: datetime | None, budget_file: Path | None = None
) -> SessionReport:
    from tools.budget.rates import load_budget
    from tools.budget.records import job_computes, load_attempts
    from tools.common.fsutil import iso_utc
    from tools.common.layout import active_dir, ledger_path, plans_dir

    config = load_budget(root, budget_file)
    attempts = load_attempts(active_dir(root), root)
    qc, gates, ready_reports = check_entries(root, config.job_dirs, plans_dir(root), since)
    currency, budget = _budget(root, config, attempts, job_computes(root, config.job_dirs), since)
    has_ledger = ledger_path(root).is_file()
    return SessionReport(
        since=None if since is None else iso_utc(since),
        generated_at=iso_utc(),
        currency=currency,
        attempts=attempt_entries(attempts, since),
        qc=qc,
        gates=gates,
        readiness_reports=ready_reports,
        readiness=_readiness(root) if has_ledger else [],
        blockers=blocker_entries(attempts, since),
        budget=budget,
        next=_next(root) if has_ledger else None,
    )
