"""The stimulation safety layer between the rules and the DAQ: bounds on every output.

``OutputController.update`` turns the rules' requests (one bool per output) into DAQ writes,
writing only on change, and enforces the bounds of each switched output (digital line, pulse
train, analog level; ``rtpose.core.daq_config``):

- ``max_on_ms``: an output on for this long is forced off.
- ``max_duty_cycle`` over ``duty_window_ms``: the on-time inside the trailing window may not reach
  ``max_duty_cycle * duty_window_ms``. A turn-on with no budget left is refused and an output
  still on when the budget runs out is cut. A cycle of 1 disables the bound.

An output that a bound cut or refused (or that ``all_off`` turned off) stays off until its
request goes false, then true again: a held request never makes a light flicker back on.
Bounds are checked on every ``update``, so they act with frame granularity: an output can
overshoot a bound by at most one frame interval (the watchdog covers a stalled loop). All limit
accounting uses the ``now_ns`` the caller passes. The loop passes the host clock at the output
stage (not the frame's timestamp): the bounds protect the animal in real time, so they are
measured in real time.

Frame-toggle outputs flip on every ``update`` (one write per frame, for latency loopback).
Analog feature outputs are not switched: ``update`` writes each one's value (the feature scaled
to volts, clamped to the output's range, ``off_volts`` when the feature cannot be measured)
whenever it changes; ``all_off`` puts them at ``off_volts`` like every other output.

Threading: ``update`` and ``drain_events`` run on the loop thread; ``all_off`` may be called
from any thread (watchdog, signal paths). ``all_off`` drives the DAQ off first, without waiting
for anything, then brings the bookkeeping in line; if the loop thread is stuck inside a DAQ
write, it leaves that to the loop's next ``update``, which drives the DAQ off again before
doing anything else.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rtpose.core.clock import now_ns as clock_now_ns
from rtpose.core.daq_config import (
    AnalogFeatureOutputConfig,
    DigitalOutputConfig,
    FrameToggleOutputConfig,
    OutputConfig,
    SwitchedOutputConfig,
)
from rtpose.core.errors import DaqError
from rtpose.core.frame_record import Event
from rtpose.daq.protocol import Daq

MAX_TRACKED_INTERVALS = 4096
"""On-intervals kept per output for the duty window; beyond this the oldest two are merged,
counting the gap between them as on-time (conservative: bounds act earlier, never later)."""

EVENT_CAPACITY = 4096
"""Events waiting for ``drain_events``; further events are dropped and counted."""

_LOCK_WAIT_S = 0.5


class OutputController:
    """Applies the safety bounds to requested output states and writes changes to the DAQ.

    Public state (read it, do not write it): ``states`` (uint8, one per output, what was last
    commanded), ``last_write_ns`` (completion time of the last write, 0 before any), ``cuts``
    (int64, how often a bound cut or refused each output), ``events_dropped``.
    """

    def __init__(self, daq: Daq, outputs: Sequence[OutputConfig]) -> None:
        names = tuple(output.name for output in outputs)
        if names != tuple(daq.output_names):
            raise ValueError(
                f"output configs {list(names)} do not match the DAQ's outputs {list(daq.output_names)}"
            )
        count = len(outputs)
        self._daq = daq
        self._features = {
            index: output
            for index, output in enumerate(outputs)
            if isinstance(output, AnalogFeatureOutputConfig)
        }
        self._toggles = [
            index for index, output in enumerate(outputs) if isinstance(output, FrameToggleOutputConfig)
        ]
        self._switched = [
            index for index in range(count) if index not in self._features and index not in self._toggles
        ]
        self._volts = {index: output.off_volts for index, output in self._features.items()}
        bounded = [_as_bounded(output) for output in outputs]
        self._outputs = tuple(bounded)
        self._names = names
        self.states: npt.NDArray[np.uint8] = np.zeros(count, np.uint8)
        self.cuts: npt.NDArray[np.int64] = np.zeros(count, np.int64)
        self.last_write_ns = 0
        self.events_dropped = 0
        self._on = [False] * count
        self._latched_off = [False] * count
        self._on_since_ns = [0] * count
        self._max_on_ns = [round(output.max_on_ms * 1e6) for output in bounded]
        self._window_ns = [round(output.duty_window_ms * 1e6) for output in bounded]
        self._budget_ns: list[int | None] = [
            round(output.max_duty_cycle * output.duty_window_ms * 1e6) if output.max_duty_cycle < 1 else None
            for output in bounded
        ]
        self._intervals: list[deque[tuple[int, int]]] = [deque() for _ in outputs]
        self._completed_on_ns = [0] * count
        self._events: deque[Event] = deque()
        self._lock = threading.Lock()
        self._off_pending = False
        self._last_now_ns = 0
        self._last_frame_id = -1
        self._updating_thread: int | None = None

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._names

    def update(
        self,
        desired_on: npt.NDArray[np.bool_],
        frame_id: int,
        now_ns: int,
        values: npt.NDArray[np.float64] | None = None,
    ) -> int:
        """Apply the bounds to ``desired_on`` (bool, one per output) and write what changed;
        ``values`` (one per output, NaN = unknown) feed the analog feature outputs.

        Returns the completion time of this call's last write, or 0 if nothing was written.
        Raises ``DaqError`` if a write fails, after driving every output off.
        """
        if len(desired_on) != len(self._on):
            raise ValueError(f"desired_on has {len(desired_on)} entries, expected {len(self._on)}")
        with self._lock:
            self._updating_thread = threading.get_ident()
            try:
                return self._update_locked(desired_on, frame_id, now_ns, values)
            finally:
                self._updating_thread = None

    def _update_locked(
        self,
        desired_on: npt.NDArray[np.bool_],
        frame_id: int,
        now_ns: int,
        values: npt.NDArray[np.float64] | None,
    ) -> int:
        now_ns = max(now_ns, self._last_now_ns)
        self._last_now_ns = now_ns
        self._last_frame_id = frame_id
        if self._off_pending:
            self._apply_all_off(frame_id, now_ns)
        write_ns = 0
        for index in self._switched:
            if self._off_pending:
                break
            on = self._decide(index, bool(desired_on[index]), frame_id, now_ns)
            if on != self._on[index]:
                write_ns = self._write(index, on, frame_id, now_ns)
        for index in self._toggles:
            if self._off_pending:
                break
            write_ns = self._write_toggle(index)
        if values is not None:
            for index, output in self._features.items():
                if self._off_pending:
                    break
                write_ns = (
                    self._write_feature(index, output, float(values[index]), frame_id, now_ns) or write_ns
                )
        if self._off_pending:
            self._apply_all_off(frame_id, now_ns)
        return write_ns

    def all_off(self) -> bool:
        """Drive every output off now; True only if the DAQ confirmed it. Any thread; never raises.

        Every switched output then stays off until its request goes false and true again. Feature
        and frame-toggle outputs (loopback and monitoring signals, not stimulation) go to their
        off state and resume on the next frame the loop processes.
        """
        confirmed = self._daq_all_off()
        self._off_pending = True
        if self._updating_thread == threading.get_ident():
            return confirmed  # a signal handler interrupted update on this thread; it applies the off
        if not self._lock.acquire(timeout=_LOCK_WAIT_S):
            return confirmed  # the loop is stuck in a write; its next update applies the off
        try:
            if self._off_pending:
                confirmed = self._apply_all_off(self._last_frame_id, self._last_now_ns)
            return confirmed
        finally:
            self._lock.release()

    def drain_events(self) -> list[Event]:
        """The events queued since the last call, oldest first (an empty list when none)."""
        events: list[Event] = []
        while self._events:
            events.append(self._events.popleft())
        return events

    def _decide(self, index: int, requested: bool, frame_id: int, now_ns: int) -> bool:
        if not requested:
            self._latched_off[index] = False
            return False
        if self._latched_off[index]:
            return False
        reason = self._bound_reached(index, now_ns)
        if reason:
            self._latched_off[index] = True
            self.cuts[index] += 1
            self._emit(Event("limit", self._names[index], frame_id, now_ns, 0.0, reason))
            return False
        return True

    def _bound_reached(self, index: int, now_ns: int) -> str:
        """Why output ``index`` may not be on at ``now_ns``, or "" if it may."""
        output = self._outputs[index]
        is_on = self._on[index]
        if is_on and now_ns - self._on_since_ns[index] >= self._max_on_ns[index]:
            on_ms = (now_ns - self._on_since_ns[index]) / 1e6
            return f"max_on_ms: on for {on_ms:.1f} ms (limit {output.max_on_ms:g} ms)"
        budget_ns = self._budget_ns[index]
        if budget_ns is not None:
            used_ns = self._on_time_in_window(index, now_ns)
            if used_ns >= budget_ns:
                action = "cut" if is_on else "turn-on refused"
                return (
                    f"max_duty_cycle: {action}, on {used_ns / 1e6:.1f} ms in the last "
                    f"{output.duty_window_ms:g} ms (limit {output.max_duty_cycle:g})"
                )
        return ""

    def _on_time_in_window(self, index: int, now_ns: int) -> int:
        window_start = now_ns - self._window_ns[index]
        intervals = self._intervals[index]
        while intervals and intervals[0][1] <= window_start:
            start, end = intervals.popleft()
            self._completed_on_ns[index] -= end - start
        used = self._completed_on_ns[index]
        if intervals and intervals[0][0] < window_start:
            used -= window_start - intervals[0][0]
        if self._on[index]:
            used += now_ns - max(self._on_since_ns[index], window_start)
        return used

    def _write(self, index: int, on: bool, frame_id: int, now_ns: int) -> int:
        try:
            write_ns = self._daq.write_output(index, on)
        except Exception as error:
            self._after_write_failure(index, error, frame_id, now_ns)
            if isinstance(error, DaqError):
                raise
            raise DaqError(f"writing output {self._names[index]!r} failed: {error}") from error
        self._set_state(index, on, now_ns)
        self.last_write_ns = write_ns
        self._emit(Event("output", self._names[index], frame_id, write_ns, 1.0 if on else 0.0))
        return write_ns

    def _write_toggle(self, index: int) -> int:
        on = not self._on[index]
        try:
            write_ns = self._daq.write_output(index, on)
        except Exception as error:
            self._after_write_failure(index, error, self._last_frame_id, self._last_now_ns)
            if isinstance(error, DaqError):
                raise
            raise DaqError(f"writing output {self._names[index]!r} failed: {error}") from error
        self._on[index] = on
        self.states[index] = on
        self.last_write_ns = write_ns
        return write_ns

    def _write_feature(
        self, index: int, output: AnalogFeatureOutputConfig, value: float, frame_id: int, now_ns: int
    ) -> int:
        volts = output.off_volts if math.isnan(value) else output.offset_volts + output.volts_per_unit * value
        volts = min(max(volts, output.min_volts), output.max_volts)
        if volts == self._volts[index]:
            return 0
        try:
            write_ns = self._daq.write_value(index, volts)
        except Exception as error:
            self._after_write_failure(index, error, frame_id, now_ns)
            if isinstance(error, DaqError):
                raise
            raise DaqError(f"writing output {self._names[index]!r} failed: {error}") from error
        self._volts[index] = volts
        self.last_write_ns = write_ns
        return write_ns

    def _after_write_failure(self, index: int, error: BaseException, frame_id: int, now_ns: int) -> None:
        detail = f"write failed: {type(error).__name__}: {error}"
        self._emit(Event("error", self._names[index], frame_id, clock_now_ns(), 0.0, detail))
        self._apply_all_off(frame_id, now_ns)

    def _apply_all_off(self, frame_id: int, now_ns: int) -> bool:
        """Drive the DAQ off and reset the bookkeeping; the caller holds the lock."""
        self._off_pending = False
        confirmed = self._daq_all_off()
        t_ns = clock_now_ns()
        for index, output in self._features.items():
            self._volts[index] = output.off_volts
        for index in self._toggles:
            self._on[index] = False
            self.states[index] = 0
        for index in self._switched:
            self._latched_off[index] = True
            if self._on[index]:
                self._set_state(index, False, now_ns)
                self._emit(Event("output", self._names[index], frame_id, t_ns, 0.0, "all_off"))
        if not confirmed:
            detail = f"all_off not confirmed by the DAQ: {self._daq.last_error!r}"
            self._emit(Event("error", "daq", frame_id, t_ns, 0.0, detail))
        return confirmed

    def _daq_all_off(self) -> bool:
        try:
            return self._daq.all_off()
        except Exception:  # the Daq contract says all_off never raises; do not trust it on this path
            return False

    def _set_state(self, index: int, on: bool, now_ns: int) -> None:
        if on:
            self._on_since_ns[index] = now_ns
        elif self._on[index]:
            self._close_interval(index, self._on_since_ns[index], now_ns)
        self._on[index] = on
        self.states[index] = on

    def _close_interval(self, index: int, start_ns: int, end_ns: int) -> None:
        if end_ns <= start_ns:
            return
        intervals = self._intervals[index]
        intervals.append((start_ns, end_ns))
        self._completed_on_ns[index] += end_ns - start_ns
        if len(intervals) > MAX_TRACKED_INTERVALS:
            first_start, first_end = intervals.popleft()
            second_start, second_end = intervals.popleft()
            intervals.appendleft((first_start, second_end))
            self._completed_on_ns[index] += second_start - first_end

    def _emit(self, event: Event) -> None:
        if len(self._events) >= EVENT_CAPACITY:
            self.events_dropped += 1
            return
        self._events.append(event)


_UNBOUNDED = 1e15


def _as_bounded(output: OutputConfig) -> SwitchedOutputConfig:
    """Feature and frame-toggle outputs have no bounds; a digital stand-in keeps the arrays aligned."""
    if isinstance(output, AnalogFeatureOutputConfig | FrameToggleOutputConfig):
        return DigitalOutputConfig(name=output.name, max_on_ms=_UNBOUNDED, max_duty_cycle=1.0)
    return output
