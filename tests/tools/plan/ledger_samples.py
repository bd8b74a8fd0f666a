"""A realistic hand-kept ledger shared by the ledger tests."""

HAND_KEPT = """# Fix Plan Ledger
**Last Updated:** 2025-10-21T09:00:00Z
**Active Focus:** B-002 — Phase E6 [in_progress]

Free prose that the parser does not understand — kept as is. ✓

## [A-001] Data contract
- Depends on: —
- Priority: High
- Status: done
- Working Plan: plans/active/A-001/plan.md
- Exit Criteria: loader validates every key
- Attempts History:
  * [2025-10-01T10:00:00Z] Attempt #1 — first loader (Mode: TDD). Result: complete. GREEN 4 passed. Artifacts: plans/active/A-001/reports/x. Next: —

### [B-002] Trainer
- Depends on: A-001
- Priority: 2
- Status: in_progress — Phase E6 waiting for the bridge
- Latest Attempt (2025-10-20): blocked on KeyError
- Latest Attempt (2025-10-21): retry planned
- Attempts History:
  * [2025-10-19T10:00:00Z] Attempt #1 — loop (Mode: TDD). Result: partial.
    A continuation line of the first entry.
  * [2025-10-20T10:00:00Z] Attempt #2 — bridge (Mode: TDD). Result: blocked. Next: fallback

## [C-003] Study
- Depends on: none
- Priority: Low
- Status: archived 2025-10-20 — see docs/archive/old.md

## [D-004] Report
- Depends on: B-002, C-003
- Priority: 1
- Status: pending

#### Attempt #1 — sub-heading form
- Result: partial
"""
