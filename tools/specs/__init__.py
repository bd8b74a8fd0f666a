"""`tools specs` and `tools findings`: citations that resolve and finding IDs that exist.

findings.py  docs/findings.md, the table of durable findings
check.py     `tools specs check`: path:line citations and finding references
cli.py       the Typer verbs
"""
