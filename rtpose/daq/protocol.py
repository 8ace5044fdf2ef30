"""The ``Daq`` Protocol: what every DAQ backend (``sim``, later ``nidaqmx``) provides.

Lifecycle, in the order the loop calls it:

1. Construction validates the config and touches no hardware.
2. ``start()`` creates and starts every task once and drives every output off. Starting a task per
   trigger costs milliseconds; after ``start()`` a trigger is a single write to a running task.
   Calling it again on a started DAQ does nothing.
3. ``write_output(index, on)`` from the loop thread, once per change (the safety layer,
   ``rtpose.daq.limits.OutputController``, writes only on change). It raises ``DaqError`` when the
   write fails; the caller must then treat the output state as unknown and call ``all_off()``.
4. ``all_off()`` from any thread, at any time: the loop on stop, the watchdog thread when the
   loop stalls, signal handlers, exception paths. It must be safe against a concurrent
   ``write_output`` (each call is atomic with respect to the other), idempotent, and it never
   raises: it returns True only when the device confirmed every output is off, and otherwise
   returns False and keeps the error in ``last_error``. Before ``start()`` and after ``close()``
   no task drives a line; it then reports whether the last known state is all off.
5. ``close()``: ``all_off()``, then release every task. Idempotent, never raises; returns what
   ``all_off()`` returned. A closed DAQ cannot be started again.

Timestamps are ``rtpose.core.clock.now_ns`` (``time.perf_counter_ns``), the one process clock.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Daq(Protocol):
    """A DAQ device with named digital outputs; see the module docstring for the lifecycle."""

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names, in config order; ``write_output`` indexes into this."""
        ...

    @property
    def last_error(self) -> BaseException | None:
        """The most recent error ``all_off`` or ``close`` swallowed, or None."""
        ...

    def start(self) -> None:
        """Create and start every task once and drive every output off; raises ``DaqError``."""
        ...

    def write_output(self, index: int, on: bool) -> int:
        """Set output ``index``; return ``now_ns()`` taken right after the write completed.

        Raises ``DaqError`` if the DAQ is not started, is closed, or the write failed.
        """
        ...

    def all_off(self) -> bool:
        """Drive every output off; True only if the device confirmed it. Thread-safe, never raises."""
        ...

    def close(self) -> bool:
        """``all_off()`` then release the tasks; idempotent, never raises; returns ``all_off()``'s result."""
        ...
