"""Opening and closing an attempt: `tools attempt start`, `resume`, `block`, `finish`, `abandon`.

Every function is keyword-only, takes the repository root, and raises `CommandError` for input
errors (exit 2) or for refused checks (`exit_code=1`). Records are read-modify-written under
`repo_lock(root)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ptycho_nl.io_utils import atomic_write_text
from tools.attempt.names import focus_slug, known_item_ids, sanitize_slug
from tools.attempt.pointers import agent_label, agent_name, clear_pointers, holders, read_pointer
from tools.attempt.records import AttemptRecord, Blocker
from tools.attempt.store import (
    HUB_SUBDIRS,
    RECORD_NAME,
    attempt_id,
    clear_current,
    ensure_in_plans,
    hub_dir,
    load_record,
    next_number,
    open_record,
    resolve_attempt,
    save_record,
    set_current,
)
from tools.attempt.summary import evidence_line, render_summary
from tools.attempt.verdicts import completion_problems, signature_from_log
from tools.common.fsutil import inside, iso_utc, repo_lock, utc_stamp, validate_item_id
from tools.common.layout import ledger_path, reports_dir
from tools.common.output import EXIT_FAILED, CommandError
from tools.common.vocabulary import FINISH_STATUSES, MODES, FinishStatus, Mode


def start(
    *,
    root: Path,
    item_id: str,
    focus: str,
    mode: Mode = "TDD",
    slug: str | None = None,
    switch: bool = False,
) -> AttemptRecord:
    """Open attempt #n of `item_id`: create the hub, write attempt.json, make it the caller's
    current attempt. Refused (exit 1) while the caller has another attempt open, unless
    `switch` (that one stays open, to `resume` later), and while another agent claims the item.
    """
    validate_item_id(item_id)
    if mode not in MODES:
        raise CommandError(f"invalid mode {mode!r}: expected one of {', '.join(MODES)}")
    if not focus.strip():
        raise CommandError("--focus must not be empty")
    known = known_item_ids(root)
    if item_id not in known:
        listed = ", ".join(sorted(known)[:20]) or "none"
        raise CommandError(
            f"unknown item {item_id!r}: not in {ledger_path(root).relative_to(root).as_posix()} "
            f"and no plans/active/{item_id}/plan.md"
            f" (known: {listed})"
        )
    clean_slug = sanitize_slug(slug) if slug is not None else None
    with repo_lock(root):
        _refuse_if_busy(root, switch, verb="start another")
        _refuse_if_claimed(root, item_id)
        number = next_number(root, item_id)
        chosen = clean_slug or focus_slug(focus) or f"attempt-{number}"
        stamp = utc_stamp()
        hub = reports_dir(root, item_id) / stamp / chosen
        if hub.exists():  # same slug in the same second: keep both, numbered
            chosen = f"{chosen}-{number}"
            hub = hub.parent / chosen
        ensure_in_plans(root, hub)
        for sub in HUB_SUBDIRS:
            (hub / sub).mkdir(parents=True, exist_ok=True)
        record = AttemptRecord(
            item_id=item_id,
            number=number,
            slug=chosen,
            focus=" ".join(focus.split()),
            mode=mode,
            hub=hub.relative_to(root).as_posix(),
            started_at=iso_utc(),
        )
        save_record(root, record)
        set_current(root, record)
    return record


def _refuse_if_busy(root: Path, switch: bool, *, verb: str, keep: str | None = None) -> None:
    """Refuse when the caller's pointer names an open attempt (other than `keep`)."""
    pointer = read_pointer(root, agent_name())
    if switch or pointer is None or pointer.hub == keep:
        return
    try:
        held = load_record(root / pointer.hub / RECORD_NAME)
    except CommandError:  # a pointer to a removed hub holds nothing
        return
    if held.status == "open":
        raise CommandError(
            f"{agent_label(agent_name())} already has attempt {attempt_id(held)} open "
            f"({held.hub}): finish or abandon it first, or pass --switch to {verb} and leave it "
            "open",
            exit_code=EXIT_FAILED,
        )


def _refuse_if_claimed(root: Path, item_id: str) -> None:
    """Refuse (exit 1) an item another agent holds with a live `plan claim`."""
    from tools.plan.claims import default_owner, held_by_others

    held = held_by_others(root, default_owner()).get(item_id)
    if held is not None:
        raise CommandError(
            f"[{item_id}] is claimed by {held.owner!r} until {held.expires_at}: pick another "
            "item (`tools plan next`)",
            exit_code=EXIT_FAILED,
        )


def resume(*, root: Path, attempt: str, switch: bool = False, take: bool = False) -> AttemptRecord:
    """Make an open attempt the caller's current one again (after --switch or in a new session).

    Refused (exit 1) when it is closed, when the caller has another open attempt (unless
    `switch`), or when another agent's pointer holds it (unless `take`, which removes that one).
    """
    with repo_lock(root):
        record = resolve_attempt(root, attempt)
        if record.status != "open":
            raise CommandError(
                f"attempt {attempt_id(record)} is {record.status}: start a new attempt instead",
                exit_code=EXIT_FAILED,
            )
        _refuse_if_busy(root, switch, verb="resume this one", keep=record.hub)
        me = agent_name()
        others = [agent for agent in holders(root, record.hub) if agent != me]
        if others and not take:
            names = ", ".join(agent_label(agent) for agent in others)
            raise CommandError(
                f"attempt {attempt_id(record)} is held by {names}; pass --take to take it over",
                exit_code=EXIT_FAILED,
            )
        clear_pointers(root, record.hub, others)
        set_current(root, record)
    return record


def abandon(*, root: Path, reason: str, attempt: str | None = None) -> FinishResult:
    """Close an open attempt without a result: status `abandoned`, the reason as its next step,
    summary.md rendered and the ledger entry written (nothing else in the plan changes)."""
    if not reason.strip():
        raise CommandError("--reason must not be empty")
    with repo_lock(root):
        record = open_record(root, attempt)
        record.status = "abandoned"
        record.finished_at = iso_utc()
        record.next = "abandoned: " + " ".join(reason.split())
        return _close(root, record, phase=None, closes=False)


def block(
    *,
    root: Path,
    signature: str | None,
    root_cause: str,
    fixes: list[str],
    evidence: Path | None = None,
    attempt: str | None = None,
) -> Blocker:
    """Record why the attempt is blocked; the signature may be pulled from a captured log."""
    if not root_cause.strip():
        raise CommandError("--root-cause must not be empty")
    if not fixes or not all(fix.strip() for fix in fixes):
        raise CommandError("at least one non-empty --fix is required")
    with repo_lock(root):
        record = open_record(root, attempt)
        hub = hub_dir(root, record)
        evidence_rel = None
        if evidence is not None:
            candidate = evidence if evidence.is_absolute() else (Path.cwd() / evidence)
            if not candidate.is_file():
                candidate = hub / evidence
            if not candidate.is_file() or not inside(candidate, hub):
                raise CommandError(
                    f"--evidence {evidence}: expected a log inside the hub {record.hub}"
                )
            evidence_rel = candidate.resolve().relative_to(hub.resolve()).as_posix()
            if not signature:
                signature = signature_from_log(candidate)
                if not signature:
                    raise CommandError(f"{evidence}: no error signature found; pass --signature")
        if not signature or not signature.strip():
            raise CommandError("--signature is required (or --evidence LOG to pull it from)")
        blocker = Blocker(
            signature=" ".join(signature.split()),
            root_cause=" ".join(root_cause.split()),
            fixes=[" ".join(fix.split()) for fix in fixes],
            evidence=evidence_rel,
            recorded_at=iso_utc(),
        )
        record.blocker = blocker
        save_record(root, record)
    return blocker


def _entry(record: AttemptRecord):
    from tools.plan.entries import AttemptEntry

    return AttemptEntry(
        timestamp=record.finished_at or iso_utc(),
        number=record.number,
        focus=record.focus,
        mode=record.mode,
        result=record.status,
        evidence=evidence_line(record),
        artifacts=record.hub,
        next=record.next or "",
    )


@dataclass
class FinishResult:
    record: AttemptRecord
    summary: Path
    ledger_note: str | None = None
    changes: list[str] = field(default_factory=list)  # Status / phase rows the rule updated
    hints: list[str] = field(default_factory=list)  # exact commands the rule could not run


def _close(root: Path, record: AttemptRecord, *, phase: str | None, closes: bool) -> FinishResult:
    """Write the plan side (tools.plan.closing), the record and summary.md; lock held."""
    from tools.plan.closing import apply

    outcome = apply(root, record, _entry(record), phase=phase, closes=closes)
    record.ledger_appended = outcome.appended
    save_record(root, record)
    summary = ensure_in_plans(root, hub_dir(root, record) / "summary.md")
    atomic_write_text(summary, render_summary(record))
    clear_current(root, record)
    return FinishResult(record, summary, outcome.note, outcome.changes, outcome.hints)


def finish(
    *,
    root: Path,
    status: FinishStatus = "complete",
    next_step: str | None = None,
    attempt: str | None = None,
    phase: str | None = None,
    closes: bool = False,
) -> FinishResult:
    """Close the attempt: check the evidence, then apply the lifecycle rule (ledger entry, the
    item's Status, the `--phase` row), render summary.md."""
    if status not in FINISH_STATUSES:
        raise CommandError(f"invalid --status {status!r}: expected {', '.join(FINISH_STATUSES)}")
    if closes and status != "complete":
        raise CommandError("--closes needs --status complete")
    with repo_lock(root):
        record = open_record(root, attempt)
        problems = completion_problems(record) if status == "complete" else []
        if status == "blocked" and record.blocker is None:
            problems = ["status blocked needs a blocker record: run `tools attempt block` first"]
        if problems:
            raise CommandError(
                f"refusing --status {status}: " + "; ".join(problems),
                exit_code=EXIT_FAILED,
                data={"problems": problems},
            )
        if phase is not None:
            from tools.plan.closing import check_phase

            check_phase(root, record.item_id, phase)
        record.status = status
        record.finished_at = iso_utc()
        record.next = " ".join(next_step.split()) if next_step else None
        return _close(root, record, phase=phase, closes=closes)
