"""The simulated DAQ: a first-class backend that records every write with its time.

The demo and every CI test run against it. It behaves like a DAQ whose tasks were started once:
a write sets an output and is recorded as ``SimWrite(t_ns, name, value)`` in order (``value`` is
the on/off state of a switched output, or the volts of an analog feature output); ``all_off``
writes the safe state to every output (each write is recorded, as the hardware would see it).

Analog inputs (``daq.inputs``) see the outputs through simulated loopback wires and the camera's
exposure-active line (``watch_camera``), with the latency, jitter and noise of ``daq.sim``
(``rtpose.daq.sim_signals``); they are sampled on an exact clock and handed to the input sink
in blocks, like NI-DAQmx's every-N-samples callback. This is what the loopback benchmark
measures without hardware.

Faults are injected explicitly through constructor arguments, never by patching:
``fail_on_write=n`` makes the n-th ``write_output`` call (counting from 1) raise ``DaqError``
without touching the line; ``fail_all_off=True`` makes ``all_off`` report that the device did not
confirm the off state (lines are left as they were, the worst case).

The write log grows by one entry per write, without bound; switched outputs are written only on
change, so a run of hours stays small unless an output is toggled every frame (or an analog
feature output is used: one entry per frame).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from rtpose.core.clock import now_ns
from rtpose.core.daq_config import (
    AnalogFeatureOutputConfig,
    AnalogLevelOutputConfig,
    DaqConfig,
    DigitalOutputConfig,
    FrameToggleOutputConfig,
    PulseTrainOutputConfig,
)
from rtpose.core.errors import DaqError
from rtpose.daq.protocol import InputSink
from rtpose.daq.sim_signals import ExposureClock, InputSampler, OutputSignal


class SimWrite(NamedTuple):
    """One recorded write: when it completed, which output, and the value written."""

    t_ns: int
    name: str
    value: bool | float


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
        self._config = config
        self._names = tuple(output.name for output in config.outputs)
        self._lines = tuple(_channel_of(output) for output in config.outputs)
        self._states = [False] * len(self._names)
        self._values = [_off_volts(output) for output in config.outputs]
        self._writes: list[SimWrite] = []
        self._lock = threading.Lock()
        self._fail_on_write = fail_on_write
        self._fail_all_off = fail_all_off
        self._write_calls = 0
        self._started = False
        self._closed = False
        self._last_error: BaseException | None = None
        sim = config.sim
        self._latency_ns = round(sim.output_latency_ms * 1e6)
        self._jitter_ns = sim.output_jitter_ms * 1e6
        self._jitter_rng = np.random.default_rng(sim.seed + 1)
        self._signals = [
            OutputSignal(output if isinstance(output, PulseTrainOutputConfig) else None, sim.high_volts)
            for output in config.outputs
        ]
        self._sampler = InputSampler(config, self._signals, self._lock)
        self._sink: InputSink | None = None

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(channel.name for channel in self._config.inputs)

    @property
    def input_error(self) -> BaseException | None:
        """An error the input sampler hit (its samples stop; outputs are unaffected)."""
        return self._sampler.error

    def set_input_sink(self, sink: InputSink | None) -> None:
        if self._started:
            raise DaqError("set_input_sink must be called before start()")
        self._sink = sink

    def watch_camera(self, clock: ExposureClock) -> None:
        """Feed inputs whose ``sim_source`` is "camera_exposure" from this camera's schedule."""
        self._sampler.watch_camera(clock)

    def value_of(self, name: str) -> float:
        """The volts last written to analog output ``name`` (its ``off_volts`` before any)."""
        index = self._index_of(name)
        with self._lock:
            return self._values[index]

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
        """The physical channel the config assigned to output ``name`` (recorded, not used)."""
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
        self._sampler.start(self._sink)

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
            if isinstance(self._config.outputs[index], AnalogFeatureOutputConfig):
                raise DaqError(f"output {self._names[index]!r} is an analog feature output: use write_value")
            return self._write(index, on)

    def write_value(self, index: int, volts: float) -> int:
        with self._lock:
            if self._closed or not self._started:
                state = "closed" if self._closed else "not started (call start() first)"
                raise DaqError(f"cannot write output {index}: the sim DAQ is {state}")
            if not 0 <= index < len(self._names):
                raise DaqError(f"output index {index} is out of range (outputs: {list(self._names)})")
            output = self._config.outputs[index]
            if not isinstance(output, AnalogFeatureOutputConfig):
                raise DaqError(f"output {self._names[index]!r} is {output.kind}: use write_output")
            return self._write_volts(index, min(max(volts, output.min_volts), output.max_volts))

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
        self._sampler.stop()  # after all_off: the inputs see the outputs go off
        return confirmed

    def _drive_all_off(self) -> None:
        for index, output in enumerate(self._config.outputs):
            if isinstance(output, AnalogFeatureOutputConfig):
                self._write_volts(index, output.off_volts)
            else:
                self._write(index, False)

    def _delay_ns(self) -> int:
        if self._jitter_ns <= 0:
            return self._latency_ns
        return max(round(self._latency_ns + self._jitter_rng.normal(0.0, self._jitter_ns)), 0)

    def _write(self, index: int, on: bool) -> int:
        self._states[index] = on
        t_ns = now_ns()
        output, signal = self._config.outputs[index], self._signals[index]
        if isinstance(output, PulseTrainOutputConfig) and on:
            signal.start_train(t_ns, self._delay_ns())
        elif isinstance(output, AnalogLevelOutputConfig):
            self._values[index] = output.on_volts if on else output.off_volts
            signal.set_level(t_ns, self._delay_ns(), self._values[index])
        else:
            signal.set_level(t_ns, self._delay_ns(), self._config.sim.high_volts if on else 0.0)
        self._writes.append(SimWrite(t_ns, self._names[index], on))
        return t_ns

    def _write_volts(self, index: int, volts: float) -> int:
        self._values[index] = volts
        t_ns = now_ns()
        self._signals[index].set_level(t_ns, self._delay_ns(), volts)
        self._writes.append(SimWrite(t_ns, self._names[index], volts))
        return t_ns

    def _index_of(self, name: str) -> int:
        try:
            return self._names.index(name)
        except ValueError:
            raise KeyError(f"no output named {name!r} (outputs: {list(self._names)})") from None


def _channel_of(output: object) -> str:
    if isinstance(output, DigitalOutputConfig | FrameToggleOutputConfig):
        return output.line
    if isinstance(output, PulseTrainOutputConfig):
        return output.counter
    assert isinstance(output, AnalogLevelOutputConfig | AnalogFeatureOutputConfig)
    return output.channel


def _off_volts(output: object) -> float:
    return (
        output.off_volts if isinstance(output, AnalogLevelOutputConfig | AnalogFeatureOutputConfig) else 0.0
    )
