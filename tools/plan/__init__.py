"""`tools plan`, initiatives and gates: the ledger `fix_plan.md` (specs/fix_plan_format.md).

lines.py        lines that keep their own endings
fields.py       status, priority and dependency spellings
items.py        what the parser finds: items, fields, attempt entries, problems
ledger.py       the line-preserving parser and targeted edits
lint.py         `plan lint`
archive.py      `plan archive`
entries.py      attempt entries (`tools attempt finish` appends them)
initiatives.py  plans/active/<ID>/plan.md phase tables and status lines
gates.py        plans/gates.json and readiness
cli.py          the Typer verbs
"""
