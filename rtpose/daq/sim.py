"""The simulated DAQ: a first-class backend that records every write with its time.

The demo and every CI test run against it. It behaves like a DAQ whose tasks were started once:
a write sets a line and is recorded as ``SimWrite(t_ns, name, value)`` in order, ``all_off``
writes 0 to every line (each line write is recorded, as the hardware would see it).

Faults are injected explicitly through constructor arguments, never by patching:
``fail_on_write=n`` makes the n-th ``write_output`` call (counting from 1) raise ``DaqError``
without touching the line; ``fail_all_off=True`` makes ``all_off`` report that the device did not
confirm the off state (lines are left as they were, the worst case).

The write log grows by one entry per write, without bound; writes happen only on change, so a
run of hours stays small unless an output is toggled every frame.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from rtpose.core.clock import now_ns
from rtpose.core.config import DaqConfig
from rtpose.core.errors import DaqError


class SimWrite(NamedTuple):
    """One recorded write: when it completed, which output, and the value written."""

    t_ns: int
    name: str
    value: bool


class SimDaq:
    """Simulated DAQ backend; see the module docstring. Thread-safe."""

    def __init__(
        self,
        config: DaqConfig,
        *,
        fail_on_write: int | None = None,
        fail_all_off: bool = False,
    ) -> None:
        if fail_on_write is not None and fail_on_write < 1:
            raise ValueError("fail_on_write counts write_output calls from 1")
        self._names = tuple(output.name for output in config.outputs)
        self._lines = tuple(output.line for output in config.outputs)
        self._states = [False] * len(self._names)
        self._writes: list[SimWrite] = []
        self._lock = threading.Lock()
        self._fail_on_write = fail_on_write
        self._fail_all_off = fail_all_off
        self._write_calls = 0
        self._started = False
        self._closed = False
        self._last_error: BaseException | None = None

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    @property
    def started(self) -> bool:
        return self._started and not self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def writes(self) -> list[SimWrite]:
        """A copy of the write log, oldest first."""
        with self._lock:
            return list(self._writes)

    def line_of(self, name: str) -> str:
        """The physical line the config assigned to output ``name`` (recorded, not used)."""
        return self._lines[self._index_of(name)]

    def is_on(self, name: str) -> bool:
        """The current state of output ``name``."""
        index = self._index_of(name)
        with self._lock:
            return self._states[index]

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise DaqError("the sim DAQ is closed; create a new one to start again")
            if self._started:
                return
            self._started = True
            self._drive_all_off()

    def write_output(self, index: int, on: bool) -> int:
        with self._lock:
            if self._closed or not self._started:
                state = "closed" if self._closed else "not started (call start() first)"
                raise DaqError(f"cannot write output {index}: the sim DAQ is {state}")
            if not 0 <= index < len(self._names):
                raise DaqError(f"output index {index} is out of range (outputs: {list(self._names)})")
            self._write_calls += 1
            if self._write_calls == self._fail_on_write:
                raise DaqError(
                    f"simulated write failure on output {self._names[index]!r} "
                    f"(fail_on_write={self._fail_on_write})"
                )
            return self._write(index, on)

    def all_off(self) -> bool:
        try:
            with self._lock:
                if not self._started or self._closed:
                    return not any(self._states)
                if self._fail_all_off:
                    raise DaqError("simulated all_off failure: the device did not confirm (fail_all_off)")
                self._drive_all_off()
                return True
        except Exception as error:  # never raises: the caller is on an exit or watchdog path
            self._last_error = error
            return False

    def close(self) -> bool:
        confirmed = self.all_off()
        with self._lock:
            self._closed = True
        return confirmed

    def _drive_all_off(self) -> None:
        for index in range(len(self._names)):
            self._write(index, False)

    def _write(self, index: int, on: bool) -> int:
        self._states[index] = on
        t_ns = now_ns()
        self._writes.append(SimWrite(t_ns, self._names[index], on))
        return t_ns

    def _index_of(self, name: str) -> int:
        try:
            return self._names.index(name)
        except ValueError:
            raise KeyError(f"no output named {name!r} (outputs: {list(self._names)})") from None
