"""The one progress bar of the `ptycho-nl` jobs: Rich, on stderr, gone when the job ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress


def progress_bar(*, enabled: bool = True) -> Progress:
    """A transient bar (description, bar, done/total, elapsed, remaining) on stderr.

    Use as a context manager; `enabled=False` gives the same object doing nothing, so callers
    need no branch. Set what it shows with `bar.update(task, description=...)`."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )
