"""A FAKE of the part of the ``nidaqmx`` Task surface that ``rtpose.daq.nidaq`` uses.

There is no NI driver on CI machines (``nidaqmx.Task()`` raises ``DaqNotFoundError``), so the NI
backend is tested against this recording fake. It follows NI's documented behaviour where the
backend relies on it:

- A task is created, gets channels, is configured, then started (or committed); writes through a
  stream writer need a running task; a finished FINITE counter task must be stopped before it is
  started again (``-200479``-like error otherwise, as DAQmx reports "specified operation cannot be
  performed while the task is running").
- A stopped counter output returns to its idle state (low); a digital line and an analog output
  keep their last written value until written again.
- Channels on a device that does not exist raise ``DaqError`` with code -200220.
- An every-N-samples callback is called from a separate thread as samples "arrive"; stopping the
  task discards pending events.

Every call is appended to ``FakeNidaqmx.log`` as a tuple, in order, so tests can assert exactly
what the backend did to the hardware. The real ``nidaqmx.constants`` and ``nidaqmx.errors`` are
used (they are plain Python), so the backend sees NI's own enums and exception classes.
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

import nidaqmx.constants as constants
import nidaqmx.errors as errors
import nidaqmx.task.collections as real_collections
import numpy as np

DEVICE_NOT_FOUND = -200220
TASK_RUNNING = -200479
DUPLICATE_TASK_NAME = -200089

_REAL_METHODS = {
    "do_chan": real_collections.DOChannelCollection.add_do_chan,
    "co_pulse_chan_freq": real_collections.COChannelCollection.add_co_pulse_chan_freq,
    "ao_voltage_chan": real_collections.AOChannelCollection.add_ao_voltage_chan,
    "ai_voltage_chan": real_collections.AIChannelCollection.add_ai_voltage_chan,
}
"""The real methods: every fake call is bound against the real signature, so a wrong argument
name fails here as it would on a rig."""


class FakeLine:
    """The level a physical channel currently has (volts; digital lines 0/1)."""

    def __init__(self) -> None:
        self.level = 0.0
        self.history: list[float] = []

    def set(self, value: float) -> None:
        self.level = value
        self.history.append(value)


class FakeChannel:
    """A created channel; a counter channel reports its output terminal's level like NI's
    ``co_output_state``."""

    def __init__(self, api: FakeNidaqmx, physical: str) -> None:
        self._api = api
        self.physical = physical
        self.settings: dict[str, Any] = {}
        self.co_pulse_term = ""

    @property
    def co_output_state(self) -> constants.Level:
        return constants.Level.HIGH if self._api.line(self.physical).level > 0 else constants.Level.LOW


class _Channels:
    def __init__(self, task: FakeTask, kind: str) -> None:
        self._task = task
        self._kind = kind

    def _add(self, physical: str, **settings: Any) -> Any:
        inspect.signature(_REAL_METHODS[self._kind]).bind(None, physical, **settings)
        self._task.api.check_device(physical)
        if self._task.running:
            raise errors.DaqError("cannot add channels while the task is running", TASK_RUNNING)
        channel = FakeChannel(self._task.api, physical)
        channel.settings = settings
        self._task.channels.append((self._kind, physical, settings, channel))
        self._task.api.log.append(("add_" + self._kind, self._task.name, physical, settings))
        return channel

    def add_do_chan(self, lines: str, name_to_assign_to_lines: str = "", line_grouping: Any = None) -> Any:
        return self._add(lines, line_grouping=line_grouping)

    def add_co_pulse_chan_freq(self, counter: str, name_to_assign_to_channel: str = "", **kw: Any) -> Any:
        return self._add(counter, **kw)

    def add_ao_voltage_chan(
        self, physical_channel: str, name_to_assign_to_channel: str = "", **kw: Any
    ) -> Any:
        return self._add(physical_channel, **kw)

    def add_ai_voltage_chan(
        self, physical_channel: str, name_to_assign_to_channel: str = "", **kw: Any
    ) -> Any:
        return self._add(physical_channel, **kw)


class _Timing:
    def __init__(self, task: FakeTask) -> None:
        self._task = task

    def cfg_implicit_timing(self, sample_mode: Any = None, samps_per_chan: int = 1000) -> None:
        self._task.configured_timing = ("implicit", sample_mode, samps_per_chan)
        self._task.api.log.append(("cfg_implicit_timing", self._task.name, sample_mode, samps_per_chan))

    def cfg_samp_clk_timing(
        self,
        rate: float,
        source: str = "",
        active_edge: Any = None,
        sample_mode: Any = None,
        samps_per_chan: int = 1000,
    ) -> None:
        self._task.configured_timing = ("sample_clock", rate, sample_mode, samps_per_chan)
        self._task.api.log.append(("cfg_samp_clk_timing", self._task.name, rate, sample_mode, samps_per_chan))


class _InStream:
    def __init__(self, task: FakeTask) -> None:
        self._task = task

    @property
    def avail_samp_per_chan(self) -> int:
        return self._task.acquired - self._task.read_position


class FakeTask:
    def __init__(self, api: FakeNidaqmx, name: str) -> None:
        self.api = api
        self.name = name
        self.channels: list[tuple[str, str, dict[str, Any], Any]] = []
        self.running = False
        self.committed = False
        self.closed = False
        self.configured_timing: tuple[Any, ...] | None = None
        self.do_channels = _Channels(self, "do_chan")
        self.co_channels = _Channels(self, "co_pulse_chan_freq")
        self.ao_channels = _Channels(self, "ao_voltage_chan")
        self.ai_channels = _Channels(self, "ai_voltage_chan")
        self.timing = _Timing(self)
        self.out_stream = self
        self.in_stream = _InStream(self)
        self.callback: Any = None
        self.callback_every = 0
        self.acquired = 0
        self.read_position = 0
        self._acquire_thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _kind(self) -> str:
        return self.channels[0][0] if self.channels else ""

    def control(self, action: Any) -> None:
        self.api.log.append(("control", self.name, action))
        if action == constants.TaskMode.TASK_COMMIT:
            self.committed = True

    def start(self) -> None:
        if self.closed:
            raise errors.DaqError("task closed", -200088)
        if self.running:
            raise errors.DaqError(
                "Specified operation cannot be performed while the task is running.", TASK_RUNNING
            )
        self.running = True
        self.api.log.append(("start", self.name))
        if self._kind() == "co_pulse_chan_freq":
            self.api.line(self.channels[0][1]).set(1.0)  # pulsing (modelled as "active")
        if self._kind() == "ai_voltage_chan" and self.callback is not None:
            self._stop.clear()
            self._acquire_thread = threading.Thread(target=self._acquire, daemon=True)
            self._acquire_thread.start()

    def stop(self) -> None:
        self.api.log.append(("stop", self.name))
        self.running = False
        self._stop.set()
        if self._acquire_thread is not None:
            self._acquire_thread.join(timeout=2.0)
            self._acquire_thread = None
        if self._kind() == "co_pulse_chan_freq" and not self.api.counter_stays_high_after_stop:
            self.api.line(self.channels[0][1]).set(0.0)  # counter back to its idle state (low)

    def close(self) -> None:
        if self.running:
            self.stop()
        self.closed = True
        self.api.log.append(("close", self.name))

    def register_every_n_samples_acquired_into_buffer_event(
        self, sample_interval: int, callback: Any
    ) -> None:
        self.callback, self.callback_every = callback, sample_interval
        self.api.log.append(("register_every_n_samples", self.name, sample_interval))

    def _acquire(self) -> None:
        """Samples arrive at the configured rate; the callback fires every N of them."""
        assert self.configured_timing is not None
        rate = float(self.configured_timing[1])
        started = time.monotonic()
        while not self._stop.wait(0.002):
            self.acquired = int((time.monotonic() - started) * rate)
            while self.running and self.acquired - self.read_position >= self.callback_every:
                before = self.read_position
                self.callback(0, None, self.callback_every, None)
                if self.read_position == before:
                    break

    def read_into(self, data: np.ndarray[Any, Any], count: int) -> None:
        """Fill ``data`` (channels, count) with the sample index (channel c adds c * 1000)."""
        if self.acquired - self.read_position < count:
            raise errors.DaqError("timeout: samples not yet acquired", -200284)
        index = np.arange(self.read_position, self.read_position + count, dtype=np.float64)
        for channel in range(data.shape[0]):
            data[channel, :count] = index + channel * 1000.0
        self.read_position += count

    # writer targets
    def write_line(self, value: bool) -> None:
        if not self.running:
            raise errors.DaqError("write to a task that is not running", -200474)
        self.api.line(self.channels[0][1]).set(1.0 if value else 0.0)
        self.api.log.append(("write", self.name, bool(value)))

    def write_volts(self, value: float) -> None:
        if not self.running:
            raise errors.DaqError("write to a task that is not running", -200474)
        self.api.line(self.channels[0][1]).set(float(value))
        self.api.log.append(("write", self.name, float(value)))


class _DigitalSingleChannelWriter:
    def __init__(self, out_stream: FakeTask) -> None:
        self._task = out_stream

    def write_one_sample_one_line(self, data: bool, timeout: float = 10) -> None:
        self._task.write_line(data)


class _AnalogSingleChannelWriter:
    def __init__(self, out_stream: FakeTask) -> None:
        self._task = out_stream

    def write_one_sample(self, data: float, timeout: float = 10) -> None:
        self._task.write_volts(data)


class _AnalogMultiChannelReader:
    def __init__(self, in_stream: _InStream) -> None:
        self._task = in_stream._task

    def read_many_sample(
        self, data: np.ndarray[Any, Any], number_of_samples_per_channel: int = -1, timeout: float = 10.0
    ) -> int:
        self._task.read_into(data, number_of_samples_per_channel)
        return number_of_samples_per_channel


class _Namespace:
    pass


class FakeNidaqmx:
    """Stands in for the ``nidaqmx`` API namespace (``rtpose.daq.nidaq.load_nidaqmx``)."""

    def __init__(
        self,
        devices: tuple[str, ...] = ("Dev1",),
        driver_installed: bool = True,
        counter_stays_high_after_stop: bool = False,
    ) -> None:
        self.devices = devices
        self.driver_installed = driver_installed
        self.counter_stays_high_after_stop = counter_stays_high_after_stop
        """Model a device whose counter output keeps its last level when stopped mid-pulse."""
        self.log: list[tuple[Any, ...]] = []
        self.tasks: list[FakeTask] = []
        self.lines: dict[str, FakeLine] = {}
        self.constants = constants
        self.errors = errors
        self.stream_writers = _Namespace()
        self.stream_writers.DigitalSingleChannelWriter = _DigitalSingleChannelWriter  # type: ignore[attr-defined]
        self.stream_writers.AnalogSingleChannelWriter = _AnalogSingleChannelWriter  # type: ignore[attr-defined]
        self.stream_readers = _Namespace()
        self.stream_readers.AnalogMultiChannelReader = _AnalogMultiChannelReader  # type: ignore[attr-defined]
        devices_present = [type("FakeDevice", (), {"name": name})() for name in devices]
        local = type("FakeSystem", (), {"devices": devices_present})()
        self.system = _Namespace()
        self.system.System = type("FakeSystemClass", (), {"local": staticmethod(lambda: local)})  # type: ignore[attr-defined]

    def Task(self, new_task_name: str = "") -> FakeTask:  # mirrors nidaqmx.Task
        if not self.driver_installed:
            raise errors.DaqNotFoundError("Could not find an installation of NI-DAQmx.")
        if any(task.name == new_task_name and not task.closed for task in self.tasks):
            raise errors.DaqError(
                f"Task name specified conflicts with an existing task name: {new_task_name}",
                DUPLICATE_TASK_NAME,
            )
        task = FakeTask(self, new_task_name)
        self.tasks.append(task)
        self.log.append(("create", new_task_name))
        return task

    def check_device(self, physical: str) -> None:
        device = physical.lstrip("/").split("/")[0]
        if device not in self.devices:
            raise errors.DaqError(
                f"Device identifier is invalid.\nDevice Specified: {device}", DEVICE_NOT_FOUND
            )

    def line(self, physical: str) -> FakeLine:
        return self.lines.setdefault(physical, FakeLine())

    def calls(self, kind: str) -> list[tuple[Any, ...]]:
        return [entry for entry in self.log if entry[0] == kind]
