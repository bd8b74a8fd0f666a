"""The dose/overlap study and its report."""
