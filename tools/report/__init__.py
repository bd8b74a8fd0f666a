"""`tools report session`: the session status from records (docs/tools.md, "Session report")."""
