"""The ``Daq`` Protocol: what every DAQ backend (``sim``, ``nidaq``) provides.

Outputs are indexed in config order. Switched outputs (digital line, counter pulse train, analog
level) are turned on and off with ``write_output``; analog feature outputs take a value with
``write_value``. "Off" is each output's safe state: line low, train stopped (counter idle low),
analog output at its ``off_volts``.

Lifecycle, in the order the loop calls it:

1. Construction validates the config and touches no hardware.
2. Optionally ``set_input_sink(sink)``: where the analog input blocks go (the run folder).
3. ``start()`` creates and starts every task once and drives every output off; analog inputs
   start sampling (hardware-timed) and hand blocks to the sink from the backend's own thread,
   which never takes a lock the output path needs. Starting a task per trigger costs
   milliseconds; after ``start()`` a trigger is a single write to a running task. Calling it
   again on a started DAQ does nothing.
4. ``write_output(index, on)`` / ``write_value(index, volts)`` from the loop thread, once per
   change (the safety layer, ``rtpose.daq.limits.OutputController``, writes only on change).
   It raises ``DaqError`` when the write fails; the caller must then treat the output state as
   unknown and call ``all_off()``.
5. ``all_off()`` from any thread, at any time: the loop on stop, the watchdog thread when the
   loop stalls, signal handlers, exception paths. It must be safe against a concurrent
   ``write_output`` (each call is atomic with respect to the other), idempotent, and it never
   raises: it returns True only when the device confirmed every output is off, and otherwise
   returns False and keeps the error in ``last_error``. Before ``start()`` and after ``close()``
   no task drives a line; it then reports whether the last known state is all off.
6. ``close()``: ``all_off()``, then stop the inputs (handing over their last block) and release
   every task. Idempotent, never raises; returns what
   ``all_off()`` returned. A closed DAQ cannot be started again.

Timestamps are ``rtpose.core.clock.now_ns`` (``time.perf_counter_ns``), the one process clock.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


class InputSink(Protocol):
    """Receives analog input samples as they arrive (the backend's thread; must be quick)."""

    def write_block(self, samples: npt.NDArray[np.float32], first_sample: int, host_ns: int) -> None:
        """``samples`` is (n, channels) volts, sample-major, valid only during the call;
        ``first_sample`` is the index of its first row since the inputs started; ``host_ns`` is
        ``now_ns()`` when the block was handed over (maps the DAQ clock to the process clock)."""
        ...

    def start(self, rate_hz: float, first_sample_ns: int) -> None:
        """Called once when sampling starts; ``first_sample_ns`` estimates sample 0's time."""
        ...


@runtime_checkable
class Daq(Protocol):
    """A DAQ device with named digital outputs; see the module docstring for the lifecycle."""

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names, in config order; ``write_output`` indexes into this."""
        ...

    @property
    def input_names(self) -> tuple[str, ...]:
        """Analog input names, in config order (the sink's column order)."""
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

    def write_value(self, index: int, volts: float) -> int:
        """Set analog feature output ``index`` to ``volts`` (clamped to its range); return
        ``now_ns()`` after the write. Raises ``DaqError`` like ``write_output``, and for an output
        that is not an analog feature output."""
        ...

    def set_input_sink(self, sink: InputSink | None) -> None:
        """Where analog input blocks go; call before ``start()`` (None: inputs are not sampled)."""
        ...

    def all_off(self) -> bool:
        """Drive every output off; True only if the device confirmed it. Thread-safe, never raises."""
        ...

    def close(self) -> bool:
        """``all_off()`` then release the tasks; idempotent, never raises; returns ``all_off()``'s result."""
        ...
