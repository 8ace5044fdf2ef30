"""The hand-off between the control thread and the hot loop.

The control thread ``submit``s a command and waits for its reply; the loop calls ``take_all``
once per iteration (a deque length check when empty: well under a microsecond) and completes
each command between frames. A command the loop did not take within the timeout is cancelled,
atomically, so it is either applied and answered, or not applied at all and reported as such.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

_PENDING, _TAKEN, _CANCELLED = 0, 1, 2


class PendingCommand:
    def __init__(self, command: Any) -> None:
        self.command = command
        self._state = _PENDING
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._reply: dict[str, Any] | None = None

    def take(self) -> bool:
        """Loop: claim the command; False if the control thread already gave up on it."""
        with self._lock:
            if self._state != _PENDING:
                return False
            self._state = _TAKEN
            return True

    def complete(self, reply: dict[str, Any]) -> None:
        self._reply = reply
        self._done.set()

    def wait(self, timeout_s: float) -> dict[str, Any] | None:
        """Control thread: the reply, or None if the loop did not take it in time (cancelled)."""
        if self._done.wait(timeout_s):
            return self._reply
        with self._lock:
            if self._state == _PENDING:
                self._state = _CANCELLED
                return None
        self._done.wait()  # taken just now: it is being applied, which takes microseconds
        return self._reply


class Mailbox:
    def __init__(self) -> None:
        self._pending: deque[PendingCommand] = deque()

    def submit(self, command: Any) -> PendingCommand:
        pending = PendingCommand(command)
        self._pending.append(pending)
        return pending

    def __bool__(self) -> bool:
        return bool(self._pending)

    def take_all(self) -> list[PendingCommand]:
        """Loop: the commands still wanted, in order (cancelled ones are discarded)."""
        taken = []
        while self._pending:
            pending = self._pending.popleft()
            if pending.take():
                taken.append(pending)
        return taken
