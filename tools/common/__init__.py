"""What every `tools` subpackage shares: the output contract (also used by `ptycho-nl`), the
vocabulary of modes and statuses, the repository layout, filesystem helpers, Markdown tables."""
