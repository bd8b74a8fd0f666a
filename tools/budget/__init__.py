"""`tools budget` and `tools report session`: compute accounting and the session status, both
read from records (job manifests, attempt records, QC and gate reports) as JSON, never from the
library (no torch). See docs/tools.md ("Budget", "Session report")."""
