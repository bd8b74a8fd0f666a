"""`tools gate ...` and staged `tools readiness STAGE`: pytest gates (plans/gates.json) and the
library's checklists (`ptycho_nl.gates`, imported only inside the commands: `tools` starts
without torch). Contract: specs/gates.md."""
