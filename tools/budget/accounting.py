"""What each item's attempts and jobs cost: `item_budget` (used / remaining / projected).

A job belongs to the attempt that ran it: the attempt id its compute block recorded from
`$TOOLS_ATTEMPT` (`<ITEM>#<n>` or the hub path), else, by time, the one attempt with a captured
run whose start and finish enclose the job's (link "time"); a job neither links to is listed as
unlinked. An attempt's own cost is the CPU its captured runs record (`cpu_s` of each run, where
the attempt tool records it) less that of the jobs linked to it, which their manifests already
count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field

from tools.budget.rates import BudgetConfig, billed_hours
from tools.budget.records import Attempt, JobCompute, parse_utc

SLACK = timedelta(seconds=1)  # attempt times have whole seconds, compute times milliseconds


class JobCost(BaseModel):
    ref: str = Field(description="record path#JSON pointer of the compute block")
    device: str
    hours: float
    cost: float
    cpu_s: float
    gpu_s: float | None
    link: Literal["env", "time", "none"]
    attempt: str | None


class AttemptCost(BaseModel):
    attempt: str
    record: str
    runs: int
    runs_cpu_s: float | None = Field(description="Sum of the runs' cpu_s; None: not recorded")
    own_cost: float
    jobs: list[JobCost]


class ItemBudget(BaseModel):
    item: str
    budget: float | None
    used: float
    remaining: float | None
    planned: float
    projected: float
    exceeded: bool
    projected_exceeded: bool
    hours: dict[str, float] = Field(description="Device-hours used, by device kind.")
    attempts: list[AttemptCost]


def _env_link(job: JobCompute, attempts: list[Attempt]) -> Attempt | None:
    named = job.compute.get("attempt")
    if not named:
        return None
    text = str(named).rstrip("/").removesuffix("/attempt.json")
    for attempt in attempts:
        if text == attempt.attempt_id or text == attempt.hub or text.endswith("/" + attempt.hub):
            return attempt
    return None


def _time_link(job: JobCompute, attempts: list[Attempt]) -> Attempt | None:
    start, end = job.started, job.finished
    if start is None or end is None:
        return None
    hits = []
    for attempt in attempts:
        for run in attempt.runs:
            r0, r1 = parse_utc(run.get("started_at")), parse_utc(run.get("finished_at"))
            if r0 is not None and r1 is not None and r0 - SLACK <= start and end <= r1 + SLACK:
                hits.append(attempt)
                break
    return hits[0] if len(hits) == 1 else None  # ambiguous: not guessed


def job_cost(job: JobCompute, config: BudgetConfig, link: str, attempt: str | None) -> JobCost:
    device = str(job.compute.get("device", "cpu"))
    hours = billed_hours(job.compute)
    return JobCost(
        ref=job.ref,
        device=device,
        hours=round(hours, 9),
        cost=round(config.cost(device, hours), 9),
        cpu_s=float(job.compute.get("cpu_s") or 0.0),
        gpu_s=job.compute.get("gpu_s"),
        link=link,  # type: ignore[arg-type]
        attempt=attempt,
    )


def link_jobs(
    jobs: list[JobCompute], attempts: list[Attempt], config: BudgetConfig
) -> list[JobCost]:
    """Every job's cost with the attempt it is linked to (module docstring)."""
    out = []
    for job in jobs:
        attempt, link = _env_link(job, attempts), "env"
        if attempt is None:
            attempt, link = _time_link(job, attempts), "time"
        if attempt is None:
            link = "none"
        out.append(job_cost(job, config, link, attempt.attempt_id if attempt else None))
    return out


def _attempt_cost(attempt: Attempt, jobs: list[JobCost], config: BudgetConfig) -> AttemptCost:
    mine = [j for j in jobs if j.attempt == attempt.attempt_id]
    recorded = [r["cpu_s"] for r in attempt.runs if isinstance(r.get("cpu_s"), int | float)]
    runs_cpu = float(sum(recorded)) if recorded else None
    jobs_cpu = sum(j.cpu_s for j in mine if j.gpu_s is None)
    own_hours = max(0.0, (runs_cpu or 0.0) - jobs_cpu) / 3600.0
    return AttemptCost(
        attempt=attempt.attempt_id,
        record=attempt.path,
        runs=len(attempt.runs),
        runs_cpu_s=runs_cpu,
        own_cost=round(config.cost("cpu", own_hours), 9),
        jobs=mine,
    )


def item_budget(
    item: str, attempts: list[Attempt], jobs: list[JobCost], config: BudgetConfig
) -> ItemBudget:
    """Used, remaining and projected cost of one item from its attempts and their jobs."""
    costs = [_attempt_cost(a, jobs, config) for a in attempts if a.item_id == item]
    used = sum(a.own_cost + sum(j.cost for j in a.jobs) for a in costs)
    hours: dict[str, float] = {}
    for a in costs:
        for j in a.jobs:
            hours[j.device] = round(hours.get(j.device, 0.0) + j.hours, 9)
        if a.runs_cpu_s:
            own = max(0.0, a.runs_cpu_s - sum(j.cpu_s for j in a.jobs if j.gpu_s is None))
            hours["cpu"] = round(hours.get("cpu", 0.0) + own / 3600.0, 9)
    planned = sum(config.cost(d, h) for d, h in config.planned.get(item, {}).items())
    budget = config.items.get(item)
    return ItemBudget(
        item=item,
        budget=budget,
        used=round(used, 9),
        remaining=None if budget is None else round(budget - used, 9),
        planned=round(planned, 9),
        projected=round(used + planned, 9),
        exceeded=budget is not None and used > budget,
        projected_exceeded=budget is not None and used + planned > budget,
        hours=hours,
        attempts=costs,
    )


class BudgetReport(BaseModel):
    """`tools budget --json` data."""

    currency: str
    rates: dict[str, float]
    source: str
    items: list[ItemBudget]
    unlinked: list[JobCost]
    total_budget: float | None
    total_used: float
    exceeded: list[str] = Field(description="Items (or 'total') whose used cost > budget.")


def budget_report(
    config: BudgetConfig, attempts: list[Attempt], jobs: list[JobCompute], item: str | None = None
) -> BudgetReport:
    """The budget of one item, or of every item with attempts or a budget."""
    costs = link_jobs(jobs, attempts, config)
    names = [item] if item else sorted({a.item_id for a in attempts} | set(config.items))
    items = [item_budget(name, attempts, costs, config) for name in names]
    unlinked = [j for j in costs if j.attempt is None] if item is None else []
    total = sum(i.used for i in items) + sum(j.cost for j in unlinked)
    exceeded = [i.item for i in items if i.exceeded]
    if item is None and config.total is not None and total > config.total:
        exceeded.append("total")
    return BudgetReport(
        currency=config.currency,
        rates=config.rates,
        source=config.source,
        items=items,
        unlinked=unlinked,
        total_budget=config.total,
        total_used=round(total, 9),
        exceeded=exceeded,
    )
