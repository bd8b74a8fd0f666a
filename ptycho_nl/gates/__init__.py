"""Gates: checklists whose every item is a check that runs against what a job left on disk.

`model` (definitions and reports), `checks` (registries of named checks, `run_gate`),
`definitions` (specs/gates/<name>.toml), `render` (table text and gate_report.md), and one
module per gate (`post_training`, ...). Contract: specs/gates.md.
"""
