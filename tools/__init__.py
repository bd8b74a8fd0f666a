"""`tools`: the evidence CLI for agent-driven development (never imports torch at start-up)."""

__version__ = "0.1.0"
