"""Signal handling for a run: the first Ctrl-C / SIGTERM asks the loop to stop (it finishes the
frame in hand, then takes the normal exit path: outputs off, records flushed); a second one
raises KeyboardInterrupt at once, which takes the same exit path through ``finally``. Once that
exit path has begun (``StopRequest.cleaning_up``), further signals are only counted: a third
Ctrl-C must never interrupt the outputs being driven off or the records being closed.

Portable: SIGINT everywhere, SIGTERM on POSIX (on Windows it cannot be caught from outside),
SIGBREAK (Ctrl-Break) on Windows. Handlers are only installed from the main thread.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    def __init__(self) -> None:
        self.reason: str | None = None
        self.cleaning_up = False
        """Set by the run when its exit path starts; signals after that are only counted."""
        self.signals_during_cleanup = 0

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


def _catchable_signals() -> list[signal.Signals]:
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.cleaning_up:
            stop.signals_during_cleanup += 1
            return
        if stop.requested:
            raise KeyboardInterrupt(f"second {name}")
        stop.request(f"signal {name}")

    previous = {}
    for sig in _catchable_signals():
        try:
            previous[sig] = signal.signal(sig, handle)
        except (ValueError, OSError):
            continue
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
