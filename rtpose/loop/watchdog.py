"""The watchdog: forces the outputs off when the loop stalls.

The loop beats (``beat()``) once per iteration, including when it waits for frames. If no beat
arrives for ``stall_timeout_ms`` the watchdog calls ``on_stall`` (which drives the DAQ off; the
Daq protocol requires ``all_off`` to be thread-safe) and counts the stall. While the stall lasts,
it calls ``on_stall`` again on every poll until it returns True (the DAQ confirmed the outputs
off); an exception from ``on_stall`` is counted in ``errors`` and retried the same way, never
ending the watchdog thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rtpose.core.clock import now_ns


class Watchdog:
    def __init__(self, stall_timeout_ms: float, on_stall: Callable[[], object]) -> None:
        self._timeout_ns = round(stall_timeout_ms * 1e6)
        self._on_stall = on_stall
        self._last_beat_ns = now_ns()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtpose-watchdog", daemon=True)
        self.stalls = 0
        self.stalled = False
        self.confirmed_off = True
        """False while a stall's cut has not been confirmed by the DAQ."""
        self.errors = 0

    def start(self) -> None:
        self._last_beat_ns = now_ns()
        self._thread.start()

    def beat(self) -> None:
        self._last_beat_ns = now_ns()

    def _run(self) -> None:
        poll_s = max(self._timeout_ns / 4e9, 0.005)
        while not self._stop.wait(poll_s):
            if now_ns() - self._last_beat_ns > self._timeout_ns:
                if not self.stalled:
                    self.stalled = True
                    self.stalls += 1
                    self.confirmed_off = False
                if not self.confirmed_off:
                    self.confirmed_off = self._cut()
            else:
                self.stalled = False

    def _cut(self) -> bool:
        try:
            return self._on_stall() is not False
        except Exception:  # retried on the next poll; the thread must survive
            self.errors += 1
            return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
