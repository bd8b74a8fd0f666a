"""Opening and closing an attempt: `tools attempt start`, `block` and `finish`.

Every function is keyword-only, takes the repository root, and raises `CommandError` for input
errors (exit 2) or for refused checks (`exit_code=1`). Records are read-modify-written under
`repo_lock(root)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ptycho_nl.io_utils import atomic_write_text
from tools.attempt.names import focus_slug, known_item_ids, sanitize_slug
from tools.attempt.records import AttemptRecord, Blocker
from tools.attempt.store import (
    HUB_SUBDIRS,
    clear_current,
    ensure_in_plans,
    hub_dir,
    next_number,
    open_record,
    save_record,
    set_current,
)
from tools.attempt.summary import evidence_line, render_summary
from tools.attempt.verdicts import completion_problems, signature_from_log
from tools.common.fsutil import inside, iso_utc, repo_lock, utc_stamp, validate_item_id
from tools.common.layout import LEDGER_NAME, ledger_path, reports_dir
from tools.common.output import EXIT_FAILED, CommandError
from tools.common.vocabulary import FINISH_STATUSES, MODES, FinishStatus, Mode


def start(
    *, root: Path, item_id: str, focus: str, mode: Mode = "TDD", slug: str | None = None
) -> AttemptRecord:
    """Open attempt #n of `item_id`: create the hub, write attempt.json, make it current."""
    validate_item_id(item_id)
    if mode not in MODES:
        raise CommandError(f"invalid mode {mode!r}: expected one of {', '.join(MODES)}")
    if not focus.strip():
        raise CommandError("--focus must not be empty")
    known = known_item_ids(root)
    if item_id not in known:
        listed = ", ".join(sorted(known)[:20]) or "none"
        raise CommandError(
            f"unknown item {item_id!r}: not in {LEDGER_NAME} and no plans/active/{item_id}/plan.md"
            f" (known: {listed})"
        )
    clean_slug = sanitize_slug(slug) if slug is not None else None
    with repo_lock(root):
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


def block(
    *,
    root: Path,
    signature: str | None,
    root_cause: str,
    fixes: list[str],
    evidence: Path | None = None,
) -> Blocker:
    """Record why the attempt is blocked; the signature may be pulled from a captured log."""
    if not root_cause.strip():
        raise CommandError("--root-cause must not be empty")
    if not fixes or not all(fix.strip() for fix in fixes):
        raise CommandError("at least one non-empty --fix is required")
    with repo_lock(root):
        record = open_record(root)
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


def _append_ledger(root: Path, record: AttemptRecord) -> tuple[bool, str | None]:
    """Append the attempt entry to fix_plan.md (the caller holds the lock); returns (appended,
    why not)."""
    from tools.plan.entries import AttemptEntry, append_attempt_entry

    ledger = ledger_path(root)
    if not ledger.is_file():
        return False, f"{LEDGER_NAME} not found"
    entry = AttemptEntry(
        timestamp=record.finished_at or iso_utc(),
        number=record.number,
        focus=record.focus,
        mode=record.mode,
        result=record.status,
        evidence=evidence_line(record),
        artifacts=record.hub,
        next=record.next or "",
    )
    try:
        append_attempt_entry(ledger, record.item_id, entry, lock=False)
    except CommandError as exc:  # e.g. an initiative that has no ledger item
        return False, str(exc)
    return True, None


@dataclass
class FinishResult:
    record: AttemptRecord
    summary: Path
    ledger_note: str | None = None


def finish(
    *,
    root: Path,
    status: FinishStatus = "complete",
    next_step: str | None = None,
) -> FinishResult:
    """Close the current attempt: check the evidence, render summary.md, append to the ledger."""
    if status not in FINISH_STATUSES:
        raise CommandError(f"invalid --status {status!r}: expected {', '.join(FINISH_STATUSES)}")
    with repo_lock(root):
        record = open_record(root)
        problems = completion_problems(record) if status == "complete" else []
        if status == "blocked" and record.blocker is None:
            problems = ["status blocked needs a blocker record: run `tools attempt block` first"]
        if problems:
            raise CommandError(
                f"refusing --status {status}: " + "; ".join(problems),
                exit_code=EXIT_FAILED,
                data={"problems": problems},
            )
        record.status = status
        record.finished_at = iso_utc()
        record.next = " ".join(next_step.split()) if next_step else None
        appended, note = _append_ledger(root, record)
        record.ledger_appended = appended
        save_record(root, record)
        summary = ensure_in_plans(root, hub_dir(root, record) / "summary.md")
        atomic_write_text(summary, render_summary(record))
        clear_current(root, record)
    return FinishResult(record=record, summary=summary, ledger_note=note)
