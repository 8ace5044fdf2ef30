"""The NI-DAQmx backend (``daq.backend = "nidaq"``): National Instruments devices via ``nidaqmx``.

Install: NI-DAQmx (the driver, from ni.com; Windows, or the Linux distributions NI supports),
then ``pip install 'rtpose[nidaq]'``. Without the driver, ``nidaqmx.Task()`` raises
``DaqNotFoundError``; rtpose reports that at ``start()``, before any output could be driven.
Channel names are NI's physical channel names as NI MAX shows them: ``Dev1/port0/line0``,
``Dev1/ctr0``, ``Dev1/ao0``, ``Dev1/ai0``.

Speed: every task is created, configured and started (or committed) once in ``start()``. A
trigger is then one on-demand write on a running task (``DigitalSingleChannelWriter`` /
``AnalogSingleChannelWriter``, microseconds on PCIe devices, ~0.1–1 ms on USB), never a task per
trigger and never an output that waits for a periodic DAQ callback.

Per output kind:

- ``digital`` and ``frame_toggle``: one task per line (``add_do_chan``, one channel per line),
  started; on/off is ``write_one_sample_one_line``.
- ``pulse_train``: a counter output task (``add_co_pulse_chan_freq``, idle low), FINITE implicit
  timing of ``pulses_per_train`` pulses, committed (``TaskMode.TASK_COMMIT``) so that the rule's
  rising edge is a fast ``start()`` and its release a ``stop()`` (which returns the counter to
  its idle low state). Because the train is finite and hardware-timed, it ends on time even if
  this process dies.
- ``analog_level`` / ``analog_feature``: an on-demand voltage output task (``add_ao_voltage_chan``
  with the configured range), started; ``write_one_sample``.
- Analog inputs: one hardware-timed CONTINUOUS task for all ``daq.inputs``; an
  every-N-samples callback reads each block (``AnalogMultiChannelReader.read_many_sample`` into a
  preallocated array) and hands it to the input sink. The callback runs on NI's thread and shares
  no lock with the outputs, so it never gates them.

Safety: ``all_off`` writes every digital line low, stops every train, and writes every analog
output's ``off_volts``; it keeps going past a failing output and reports False. NI-DAQmx is
thread-safe, so the watchdog's ``all_off`` proceeds even while the loop thread is stuck in a
write (after waiting ``LOCK_WAIT_S`` for it). Digital lines and analog outputs keep their last
value if the process is killed (-9): use pulse trains, or the device's power-up/watchdog states
(NI MAX), where that matters.

Testing: ``tests/fake_nidaqmx.py`` is a recording fake of the Task surface used here; the backend
takes the API namespace as ``nidaqmx_api`` so that the fake can stand in for the real package.
"""

from __future__ import annotations

import contextlib
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np

from rtpose.core.clock import now_ns
from rtpose.core.daq_config import (
    AnalogFeatureOutputConfig,
    AnalogLevelOutputConfig,
    DaqConfig,
    DigitalOutputConfig,
    FrameToggleOutputConfig,
    OutputConfig,
    PulseTrainOutputConfig,
)
from rtpose.core.errors import DaqError
from rtpose.core.extras import require
from rtpose.daq.protocol import InputSink

WRITE_TIMEOUT_S = 1.0
LOCK_WAIT_S = 0.5
DEVICE_NOT_FOUND_CODES = (-200220, -201003)
"""NI-DAQmx errors for "device identifier is invalid" and "device cannot be accessed"."""

_NAMING_LINES = ("Device Specified", "Physical Channel Name", "Channel Name", "Task Name")
"""Lines of an NI-DAQmx error message that name what it is about (kept in rtpose's message)."""

_TERMINALS = {
    "default": "DEFAULT",
    "rse": "RSE",
    "nrse": "NRSE",
    "differential": "DIFF",
    "pseudo_differential": "PSEUDO_DIFF",
}


def load_nidaqmx() -> Any:
    """The parts of the ``nidaqmx`` package this backend uses, as one namespace."""
    nidaqmx = require("nidaqmx", "nidaq", "The NI-DAQmx backend (daq.backend = 'nidaq')")
    return SimpleNamespace(
        Task=nidaqmx.Task,
        constants=require("nidaqmx.constants", "nidaq", "The NI-DAQmx backend"),
        errors=require("nidaqmx.errors", "nidaq", "The NI-DAQmx backend"),
        stream_writers=require("nidaqmx.stream_writers", "nidaq", "The NI-DAQmx backend"),
        stream_readers=require("nidaqmx.stream_readers", "nidaq", "The NI-DAQmx backend"),
        system=getattr(nidaqmx, "system", None),
    )


class _Output:
    """One output's task and how to drive it."""

    def __init__(self, config: OutputConfig, task: Any, writer: Any, channel: Any = None) -> None:
        self.config = config
        self.task = task
        self.writer = writer
        self.channel = channel
        self.train_running = False


class NiDaq:
    """NI-DAQmx backend; see the module docstring. Thread-safe."""

    def __init__(self, config: DaqConfig, *, nidaqmx_api: Any = None) -> None:
        self._config = config
        self._api = nidaqmx_api
        self._names = tuple(output.name for output in config.outputs)
        self._outputs: list[_Output] = []
        self._input_task: Any = None
        self._sink: InputSink | None = None
        self._lock = threading.Lock()
        self._input_lock = threading.Lock()
        self._started = False
        self._closed = False
        self._states = [False] * len(self._names)
        self._state_unknown = False
        """True from ``start()`` until every output was driven off: lines may still hold what an
        earlier (killed) process left on them."""
        self._last_error: BaseException | None = None
        self.input_error: BaseException | None = None
        self._samples_read = 0
        self._block = config.input_block_samples
        self._read_buffer = np.zeros((len(config.inputs), self._block), np.float64)
        self._block_out = np.zeros((self._block, len(config.inputs)), np.float32)

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(channel.name for channel in self._config.inputs)

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    def set_input_sink(self, sink: InputSink | None) -> None:
        if self._started:
            raise DaqError("set_input_sink must be called before start()")
        self._sink = sink

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise DaqError("the NI-DAQmx backend is closed; create a new one to start again")
            if self._started:
                return
            api = self._api = self._api if self._api is not None else load_nidaqmx()
            self._state_unknown = True
            try:
                for output in self._config.outputs:
                    created = self._create_output(api, output)
                    self._outputs.append(created)
                    self._drive(created, False)  # off at once: a line may be high from a killed run
                self._started = True
                if not self._drive_all_off():
                    raise DaqError(f"the outputs could not be driven off at start: {self._last_error}")
                self._state_unknown = False
                if self._config.inputs and self._sink is not None:
                    self._start_inputs(api, self._sink)
            except BaseException as error:
                self._started = False
                # a device that took tasks but failed may hold lines where a killed run left them;
                # with no task created (no driver, no such device) nothing could be driven at all
                self._state_unknown = bool(self._outputs)
                self._release_tasks()
                raise self._explain(api, error) from error

    def write_output(self, index: int, on: bool) -> int:
        with self._lock:
            output = self._output(index)
            if isinstance(output.config, AnalogFeatureOutputConfig):
                raise DaqError(f"output {output.config.name!r} is an analog feature output: use write_value")
            try:
                self._drive(output, on)
            except Exception as error:
                raise DaqError(f"NI-DAQmx write to output {output.config.name!r} failed: {error}") from error
            self._states[index] = on
            return now_ns()

    def write_value(self, index: int, volts: float) -> int:
        with self._lock:
            output = self._output(index)
            config = output.config
            if not isinstance(config, AnalogFeatureOutputConfig):
                raise DaqError(f"output {config.name!r} is {config.kind}: use write_output")
            try:
                output.writer.write_one_sample(
                    min(max(volts, config.min_volts), config.max_volts), timeout=WRITE_TIMEOUT_S
                )
            except Exception as error:
                raise DaqError(f"NI-DAQmx write to output {config.name!r} failed: {error}") from error
            return now_ns()

    def all_off(self) -> bool:
        locked = self._lock.acquire(timeout=LOCK_WAIT_S)  # NI-DAQmx itself is thread-safe
        try:
            if not self._started or self._closed:
                return not any(self._states) and not self._state_unknown
            return self._drive_all_off()
        except Exception as error:  # never raises: the caller is on an exit or watchdog path
            self._last_error = error
            return False
        finally:
            if locked:
                self._lock.release()

    def close(self) -> bool:
        confirmed = self.all_off()
        with self._lock:
            if self._closed:
                return confirmed
            self._closed = True
            self._stop_inputs()
            self._release_tasks()
        return confirmed

    # --- outputs --------------------------------------------------------------------------
    def _create_output(self, api: Any, config: OutputConfig) -> _Output:
        constants = api.constants
        task = api.Task(f"rtpose-out-{config.name}")
        try:
            if isinstance(config, DigitalOutputConfig | FrameToggleOutputConfig):
                task.do_channels.add_do_chan(config.line, line_grouping=constants.LineGrouping.CHAN_PER_LINE)
                task.start()
                return _Output(config, task, api.stream_writers.DigitalSingleChannelWriter(task.out_stream))
            if isinstance(config, PulseTrainOutputConfig):
                channel = task.co_channels.add_co_pulse_chan_freq(
                    config.counter,
                    idle_state=constants.Level.LOW,
                    initial_delay=0.0,
                    freq=config.frequency_hz,
                    duty_cycle=config.pulse_width_ms * config.frequency_hz / 1000.0,
                )
                if config.terminal is not None:
                    channel.co_pulse_term = config.terminal
                task.timing.cfg_implicit_timing(
                    sample_mode=constants.AcquisitionType.FINITE, samps_per_chan=config.pulses_per_train
                )
                task.control(constants.TaskMode.TASK_COMMIT)
                return _Output(config, task, None, channel)
            task.ao_channels.add_ao_voltage_chan(
                config.channel, min_val=config.min_volts, max_val=config.max_volts
            )
            task.start()
            return _Output(config, task, api.stream_writers.AnalogSingleChannelWriter(task.out_stream))
        except BaseException:
            _close_quietly(task)
            raise

    def _output(self, index: int) -> _Output:
        if self._closed or not self._started:
            state = "closed" if self._closed else "not started (call start() first)"
            raise DaqError(f"cannot write output {index}: the NI-DAQmx backend is {state}")
        if not 0 <= index < len(self._outputs):
            raise DaqError(f"output index {index} is out of range (outputs: {list(self._names)})")
        return self._outputs[index]

    def _drive(self, output: _Output, on: bool) -> None:
        config = output.config
        if isinstance(config, DigitalOutputConfig | FrameToggleOutputConfig):
            output.writer.write_one_sample_one_line(on, timeout=WRITE_TIMEOUT_S)
        elif isinstance(config, PulseTrainOutputConfig):
            if output.train_running:
                output.task.stop()  # a finished finite train must be stopped before it restarts
                output.train_running = False
            if on:
                output.train_running = True  # before start(): an interrupted start is still stopped
                output.task.start()
        elif isinstance(config, AnalogLevelOutputConfig):
            volts = config.on_volts if on else config.off_volts
            output.writer.write_one_sample(volts, timeout=WRITE_TIMEOUT_S)

    def _drive_all_off(self) -> bool:
        confirmed = True
        for index, output in enumerate(self._outputs):
            try:
                if isinstance(output.config, AnalogFeatureOutputConfig):
                    output.writer.write_one_sample(output.config.off_volts, timeout=WRITE_TIMEOUT_S)
                elif isinstance(output.config, PulseTrainOutputConfig):
                    self._stop_train(output)
                else:
                    self._drive(output, False)
                self._states[index] = False
            except Exception as error:  # keep going: every other output must still go off
                self._last_error = error
                confirmed = False
        return confirmed

    def _stop_train(self, output: _Output) -> None:
        """Stop a train whatever its flag says (stopping an idle committed task does nothing),
        then check the counter's output terminal is low where the device can tell."""
        output.task.stop()
        output.train_running = False
        level = self._counter_level(output)
        if level is not None and level == self._api.constants.Level.HIGH:
            raise DaqError(
                f"counter output {output.config.name!r} is still high after its train was stopped "
                "(set the counter's idle state, or drive the line low in NI MAX)"
            )

    @staticmethod
    def _counter_level(output: _Output) -> Any:
        try:
            return output.channel.co_output_state
        except Exception:  # not every device reports it; the stop itself is then all we have
            return None

    # --- inputs ---------------------------------------------------------------------------
    def _start_inputs(self, api: Any, sink: InputSink) -> None:
        constants = api.constants
        task = self._input_task = api.Task("rtpose-in")
        for channel in self._config.inputs:
            task.ai_channels.add_ai_voltage_chan(
                channel.channel,
                terminal_config=getattr(constants.TerminalConfiguration, _TERMINALS[channel.terminal]),
                min_val=channel.min_volts,
                max_val=channel.max_volts,
            )
        rate = self._config.input_rate_hz
        buffer = max(int(rate * 2), self._block * 10)  # 2 s of slack before NI reports an overflow
        task.timing.cfg_samp_clk_timing(
            rate, sample_mode=constants.AcquisitionType.CONTINUOUS, samps_per_chan=buffer
        )
        self._reader = api.stream_readers.AnalogMultiChannelReader(task.in_stream)
        task.register_every_n_samples_acquired_into_buffer_event(self._block, self._on_input_block)
        sink.start(rate, now_ns())
        task.start()

    def _on_input_block(self, task_handle: Any, event_type: Any, samples: int, callback_data: Any) -> int:
        """NI's every-N-samples callback (NI's thread): read one block, hand it to the sink."""
        with self._input_lock:
            try:
                if self._input_task is None or self._sink is None:
                    return 0
                self._reader.read_many_sample(
                    self._read_buffer, number_of_samples_per_channel=self._block, timeout=0.0
                )
                self._hand_over(self._read_buffer, self._block_out)
            except Exception as error:  # reported in the summary; the outputs do not depend on it
                self.input_error = error
        return 0

    def _hand_over(self, channel_major: np.ndarray[Any, Any], out: np.ndarray[Any, Any]) -> None:
        assert self._sink is not None
        np.copyto(out, channel_major.T, casting="same_kind")
        self._sink.write_block(out, self._samples_read, now_ns())
        self._samples_read += out.shape[0]

    def _stop_inputs(self) -> None:
        """Read what is left in the buffer (so no sample is lost), then stop the input task."""
        task = self._input_task
        if task is None:
            return
        with self._input_lock:
            try:
                left = int(task.in_stream.avail_samp_per_chan)
                if left > 0 and self._sink is not None:
                    rest = np.zeros((len(self._config.inputs), left), np.float64)
                    self._reader.read_many_sample(rest, number_of_samples_per_channel=left, timeout=0.0)
                    self._hand_over(rest, np.zeros((left, len(self._config.inputs)), np.float32))
            except Exception as error:
                self.input_error = error
            self._input_task = None
        try:
            task.stop()
        except Exception as error:
            self.input_error = error
        _close_quietly(task)

    # --- errors and cleanup ---------------------------------------------------------------
    def _release_tasks(self) -> None:
        for output in self._outputs:
            _close_quietly(output.task)
        self._outputs = []
        if self._input_task is not None:
            _close_quietly(self._input_task)
            self._input_task = None

    def _explain(self, api: Any, error: BaseException) -> BaseException:
        errors = api.errors
        if isinstance(error, errors.DaqNotFoundError):
            return DaqError(
                "NI-DAQmx (NI's driver) is not installed on this machine: install it from ni.com "
                "(Windows, or a Linux distribution NI supports), or use daq.backend = 'sim'"
            )
        if isinstance(error, errors.DaqError):
            code = getattr(error, "error_code", None)
            lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()] or [
                repr(error)
            ]
            named = [line for line in lines[1:] if line.startswith(_NAMING_LINES)]
            detail = " ".join([lines[0], *named])
            hint = ""
            if code in DEVICE_NOT_FOUND_CODES:
                hint = f"; check the device name in NI MAX (devices present: {self._device_names(api)})"
            return DaqError(f"NI-DAQmx could not set up the DAQ tasks: {detail} (error {code}){hint}")
        if isinstance(error, DaqError):
            return error
        return DaqError(f"NI-DAQmx could not set up the DAQ tasks: {type(error).__name__}: {error}")

    @staticmethod
    def _device_names(api: Any) -> str:
        try:
            names = [device.name for device in api.system.System.local().devices]
        except Exception:
            return "unknown"
        return ", ".join(names) or "none"


def _close_quietly(task: Any) -> None:
    with contextlib.suppress(Exception):
        task.close()
