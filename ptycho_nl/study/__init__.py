"""The dose/overlap study: design, phases, plan, job kinds, comparison, runner and report
(see docs/study.md for where each stage lives)."""
