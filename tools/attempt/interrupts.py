"""Ctrl-C during `tools attempt run`/`collect`: end promptly and still write the record.

A KeyboardInterrupt raised at an arbitrary bytecode (while taking the lock, inside a library,
between the read loop and the save) either loses the record or leaves the tool waiting on a child
or a thread; and a SIGINT the kernel delivers to a non-main thread does not interrupt the main
thread's blocking read at all. So while a capture runs, SIGINT only sets a flag and is forwarded
to the child; the read loop polls (`select`, 0.2 s), and a child still alive `GRACE_S` after the
interrupt is terminated, then killed. The record is written with `interrupted = true`.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

GRACE_S = 3.0  # time a child gets to exit after Ctrl-C before SIGTERM (then SIGKILL)
KILL_AFTER_S = 2.0


class InterruptGuard:
    """Context manager: SIGINT sets `interrupted_at` and is forwarded to the registered child.

    Outside the main thread (signal handlers cannot be installed there) it does nothing and a
    Ctrl-C behaves as Python's default.
    """

    def __init__(self) -> None:
        self.interrupted_at: float | None = None
        self.child: subprocess.Popen | None = None
        self._previous: Any = None
        self._installed = False
        self._escalated = 0

    @property
    def interrupted(self) -> bool:
        return self.interrupted_at is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.interrupted_at is None:
            self.interrupted_at = time.monotonic()
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGINT)

    def escalate(self) -> None:
        """After an interrupt: SIGTERM the child after GRACE_S, SIGKILL it KILL_AFTER_S later."""
        child = self.child
        if self.interrupted_at is None or child is None or child.poll() is not None:
            return
        waited = time.monotonic() - self.interrupted_at
        if self._escalated == 0 and waited > GRACE_S:
            child.terminate()
            self._escalated = 1
        elif self._escalated == 1 and waited > GRACE_S + KILL_AFTER_S:
            child.kill()
            self._escalated = 2

    def expired(self) -> bool:
        """True once the child has had all its time after an interrupt (stop waiting for EOF)."""
        return (
            self.interrupted_at is not None
            and time.monotonic() - self.interrupted_at > GRACE_S + 2 * KILL_AFTER_S
        )

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


class Background:
    """Run `fn(*args)` in a daemon thread; `result(timeout)` gives its value or `default` (a
    failure or a timeout never blocks the capture, nor the interpreter's exit)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, default: Any) -> None:
        self._value = default
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        # Evidence capture must not fail because git does: a failure leaves the default.
        with contextlib.suppress(Exception):
            self._value = fn(*args)

    def result(self, timeout: float | None = None) -> Any:
        self._thread.join(timeout)
        return self._value
