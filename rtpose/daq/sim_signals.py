"""The sim DAQ's analog world: what its inputs would see if wires looped the outputs (and the
camera's exposure-active line) back into them.

Each output keeps the history of the levels it was written, each shifted by the configured
latency plus a per-write jitter (the time the light or voltage actually changes). An input
samples one such signal (or the camera exposure signal) on an exact sample clock, adds normal
noise, and hands blocks of samples to the sink from a sampler thread, like NI-DAQmx's
every-N-samples callback. Writes happen on the loop thread, sampling on the sampler thread;
they share one short lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from rtpose.core.clock import now_ns
from rtpose.core.daq_config import CAMERA_EXPOSURE, DaqConfig, PulseTrainOutputConfig
from rtpose.daq.protocol import InputSink

_PRUNE_AFTER = 1024


class ExposureClock(Protocol):
    """A camera whose exposures follow a fixed schedule (the synthetic camera)."""

    def exposure_schedule(self) -> tuple[int, int] | None:
        """(exposure start of frame 0 in ``now_ns`` time, frame period in ns); None before start."""
        ...


class OutputSignal:
    """The level history of one output as an input wired to it would see it.

    ``set_level`` / ``start_train`` are called with the write's completion time; the change
    appears ``delay_ns`` later (never before an earlier change). Evaluated vectorised by ``levels``.
    """

    def __init__(self, train: PulseTrainOutputConfig | None, train_high_volts: float) -> None:
        self._appear_ns: list[int] = []
        self._volts: list[float] = []
        self._is_train: list[bool] = []
        self._last_appear_ns = -1
        if train is not None:
            self._period_ns = round(1e9 / train.frequency_hz)
            self._width_ns = round(train.pulse_width_ms * 1e6)
            self._pulses = train.pulses_per_train
        else:
            self._period_ns = self._width_ns = self._pulses = 1
        self._train_high_volts = train_high_volts

    def set_level(self, t_ns: int, delay_ns: int, volts: float) -> None:
        self._append(t_ns + delay_ns, volts, False)

    def start_train(self, t_ns: int, delay_ns: int) -> None:
        self._append(t_ns + delay_ns, self._train_high_volts, True)

    def _append(self, appear_ns: int, volts: float, is_train: bool) -> None:
        appear_ns = max(appear_ns, self._last_appear_ns + 1)
        self._last_appear_ns = appear_ns
        self._appear_ns.append(appear_ns)
        self._volts.append(volts)
        self._is_train.append(is_train)

    def levels(self, times_ns: npt.NDArray[np.int64], out: npt.NDArray[np.float64]) -> None:
        """Fill ``out`` with the level at each time (0 V before the first write)."""
        if not self._appear_ns:
            out.fill(0.0)
            return
        appear = np.asarray(self._appear_ns, np.int64)
        index = np.searchsorted(appear, times_ns, side="right") - 1
        known = index >= 0
        safe = np.where(known, index, 0)
        out[:] = np.where(known, np.asarray(self._volts)[safe], 0.0)
        in_train = known & np.asarray(self._is_train)[safe]
        if in_train.any():
            elapsed = times_ns - appear[safe]
            pulse = elapsed // self._period_ns
            high = (pulse < self._pulses) & (elapsed - pulse * self._period_ns < self._width_ns)
            out[in_train & ~high] = 0.0

    def prune_before(self, t_ns: int) -> None:
        """Forget changes superseded before ``t_ns`` (keeps the one in force at ``t_ns``)."""
        index = int(np.searchsorted(np.asarray(self._appear_ns, np.int64), t_ns, side="right")) - 1
        if index >= _PRUNE_AFTER:
            del self._appear_ns[:index], self._volts[:index], self._is_train[:index]


def exposure_levels(
    clock: ExposureClock | None, exposure_ns: int, high_volts: float
) -> Callable[[npt.NDArray[np.int64], npt.NDArray[np.float64]], None]:
    """The camera's exposure-active signal: high for ``exposure_ns`` from each frame's start."""

    def levels(times_ns: npt.NDArray[np.int64], out: npt.NDArray[np.float64]) -> None:
        schedule = None if clock is None else clock.exposure_schedule()
        if schedule is None:
            out.fill(0.0)
            return
        first_ns, period_ns = schedule
        elapsed = times_ns - first_ns
        high = (elapsed >= 0) & (elapsed % period_ns < exposure_ns)
        out[:] = np.where(high, high_volts, 0.0)

    return levels


class InputSampler:
    """Samples the configured inputs on an exact clock and hands blocks to the sink (own thread)."""

    def __init__(self, config: DaqConfig, signals: list[OutputSignal], lock: threading.Lock) -> None:
        self._config = config
        self._signals = signals
        self._lock = lock
        self._names = [output.name for output in config.outputs]
        self._rate_hz = config.input_rate_hz
        self._block = config.input_block_samples
        self._rng = np.random.default_rng(config.sim.seed)
        self._exposure_clock: ExposureClock | None = None
        self._sink: InputSink | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._first_ns = 0
        self._next_sample = 0
        self.error: BaseException | None = None
        count = len(config.inputs)
        self._samples = np.zeros((self._block, count), np.float32)
        self._column = np.zeros(self._block, np.float64)
        self._noise = np.zeros(self._block, np.float64)

    def watch_camera(self, clock: ExposureClock) -> None:
        self._exposure_clock = clock

    def start(self, sink: InputSink | None) -> None:
        if sink is None or not self._config.inputs or self._thread is not None:
            return
        self._sink = sink
        self._first_ns = now_ns()
        sink.start(self._rate_hz, self._first_ns)
        self._thread = threading.Thread(target=self._run, name="sim-daq-inputs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling, after handing over every sample up to now (the last block may be short)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive() and self.error is None:
            self._hand_over(final=True)
        self._thread = None

    def _sample_ns(self, index: int) -> int:
        return self._first_ns + round(index * 1e9 / self._rate_hz)

    def _run(self) -> None:
        period_s = self._block / self._rate_hz
        try:
            while not self._stop.wait(period_s):
                self._hand_over(final=False)
        except BaseException as error:  # reported in the summary; outputs are unaffected
            self.error = error

    def _hand_over(self, final: bool) -> None:
        sink = self._sink
        assert sink is not None
        while True:
            now = now_ns()
            end = self._next_sample + self._block
            if self._sample_ns(end - 1) > now:
                if not final:
                    return
                end = self._next_sample
                while self._sample_ns(end) <= now and end < self._next_sample + self._block:
                    end += 1
                if end == self._next_sample:
                    return
            count = end - self._next_sample
            self._fill(count)
            sink.write_block(self._samples[:count], self._next_sample, now_ns())
            self._next_sample = end
            if count < self._block:
                return

    def _fill(self, count: int) -> None:
        times = self._first_ns + np.round(
            np.arange(self._next_sample, self._next_sample + count) * (1e9 / self._rate_hz)
        ).astype(np.int64)
        sim = self._config.sim
        column, noise = self._column[:count], self._noise[:count]
        exposure = exposure_levels(self._exposure_clock, round(sim.exposure_ms * 1e6), sim.high_volts)
        for index, channel in enumerate(self._config.inputs):
            source = channel.sim_source
            if source is None:
                column.fill(0.0)
            elif source == CAMERA_EXPOSURE:
                exposure(times, column)
            else:
                signal = self._signals[self._names.index(source)]
                with self._lock:
                    signal.levels(times, column)
                    signal.prune_before(int(times[0]))
            if sim.noise_volts > 0:
                self._rng.standard_normal(out=noise)
                column += noise * sim.noise_volts
            np.clip(column, channel.min_volts, channel.max_volts, out=column)
            self._samples[:count, index] = column
