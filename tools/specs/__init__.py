"""`tools specs` and `tools findings`: citations that resolve and finding IDs that exist.

findings.py    the findings table (docs/findings.md, or as configured)
citations.py   citation forms: path:line, ranges, lists, braces, symbols, quotes
file_index.py  the repository's files by name (bare citations resolved or shown ambiguous)
locate.py      where a cited symbol or quote is now
check.py       `tools specs check`: every citation and finding reference judged
fix.py         `tools specs check --fix`: fixable citations rewritten atomically
cli.py         the Typer verbs
"""
