"""Analog input recording: the DAQ's input samples, continuously, in the run folder.

Files (little-endian, append-only, readable after a crash up to the last flush):

- ``analog.json``: channel names and physical channels, ``rate_hz``, ``first_sample_ns`` (an
  estimate of sample 0's time on the process clock), dtype ``<f4``, layout sample-major.
- ``analog.bin``: float32 volts, one row of ``channels`` values per sample.
- ``analog_clock.bin``: int64 pairs (first sample index of a block, ``now_ns`` when the block
  arrived), one per block: maps the DAQ's sample clock onto the process clock.

The sink is called on the DAQ backend's input thread (never the loop's); it hands data to the
operating system at least every ``flush_interval_s``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rtpose.core.daq_config import AnalogInputConfig

ANALOG_LAYOUT_FILE = "analog.json"
ANALOG_SAMPLES_FILE = "analog.bin"
ANALOG_CLOCK_FILE = "analog_clock.bin"


class AnalogRecorder:
    """Writes analog input blocks to a run folder (an ``InputSink``, see ``rtpose.daq.protocol``)."""

    def __init__(self, run_dir: Path, inputs: list[AnalogInputConfig], flush_interval_s: float = 0.2) -> None:
        self.run_dir = Path(run_dir)
        self._inputs = inputs
        self._flush_interval_s = flush_interval_s
        self._samples = open(self.run_dir / ANALOG_SAMPLES_FILE, "xb")  # noqa: SIM115
        self._clock = open(self.run_dir / ANALOG_CLOCK_FILE, "xb")  # noqa: SIM115
        self._pair = np.zeros(2, "<i8")
        self._last_flush = time.monotonic()
        self.samples_written = 0
        self.blocks_written = 0
        self.gaps = 0
        """Blocks whose first sample did not follow the previous block's last (samples lost)."""
        self.closed = False

    def start(self, rate_hz: float, first_sample_ns: int) -> None:
        layout = {
            "channels": [
                {"name": channel.name, "channel": channel.channel, "sim_source": channel.sim_source}
                for channel in self._inputs
            ],
            "rate_hz": rate_hz,
            "first_sample_ns": first_sample_ns,
            "dtype": "<f4",
            "layout": "sample-major: one row of len(channels) float32 volts per sample",
            "clock_file": f"{ANALOG_CLOCK_FILE}: int64 pairs (first sample of block, now_ns on arrival)",
        }
        with open(self.run_dir / ANALOG_LAYOUT_FILE, "x", encoding="utf-8") as file:
            json.dump(layout, file, indent=2)
            file.write("\n")

    def write_block(self, samples: npt.NDArray[np.float32], first_sample: int, host_ns: int) -> None:
        if self.closed:
            return
        if first_sample != self.samples_written:
            self.gaps += 1
        self._samples.write(np.ascontiguousarray(samples, "<f4").tobytes())
        self._pair[0], self._pair[1] = first_sample, host_ns
        self._clock.write(self._pair.tobytes())
        self.samples_written = first_sample + len(samples)
        self.blocks_written += 1
        now = time.monotonic()
        if now - self._last_flush >= self._flush_interval_s:
            self._samples.flush()
            self._clock.flush()
            self._last_flush = now

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for file in (self._samples, self._clock):
            file.flush()
            file.close()

    def stats(self) -> dict[str, object]:
        return {
            "channels": [channel.name for channel in self._inputs],
            "samples_per_channel": self.samples_written,
            "blocks": self.blocks_written,
            "gaps": self.gaps,
        }


@dataclass(frozen=True)
class AnalogRecord:
    """A run's analog inputs as recorded (a trailing partial row from a crash is ignored)."""

    names: list[str]
    rate_hz: float
    first_sample_ns: int
    samples: npt.NDArray[np.float32]
    """(n, channels) volts."""
    block_first_sample: npt.NDArray[np.int64]
    block_host_ns: npt.NDArray[np.int64]

    def channel(self, name: str) -> npt.NDArray[np.float32]:
        if name not in self.names:
            raise KeyError(f"no analog input named {name!r} (recorded: {self.names})")
        return self.samples[:, self.names.index(name)]

    def sample_times_ns(self) -> npt.NDArray[np.float64]:
        """Each sample's time on the process clock, from ``first_sample_ns`` and the rate."""
        times = np.arange(len(self.samples), dtype=np.float64)
        times *= 1e9 / self.rate_hz
        times += self.first_sample_ns
        return times


def read_analog(run_dir: Path) -> AnalogRecord:
    """Read a run folder's analog inputs; FileNotFoundError naming the file if none were recorded."""
    run_dir = Path(run_dir)
    layout_path = run_dir / ANALOG_LAYOUT_FILE
    if not layout_path.exists():
        raise FileNotFoundError(
            f"{layout_path} does not exist: this run recorded no analog inputs (add [[daq.inputs]])"
        )
    layout = json.loads(layout_path.read_text(encoding="utf-8"))
    names = [channel["name"] for channel in layout["channels"]]
    raw = np.fromfile(run_dir / ANALOG_SAMPLES_FILE, "<f4")
    rows = len(raw) // max(len(names), 1)
    samples = raw[: rows * len(names)].reshape(rows, len(names))
    clock = np.fromfile(run_dir / ANALOG_CLOCK_FILE, "<i8")
    clock = clock[: len(clock) // 2 * 2].reshape(-1, 2)
    return AnalogRecord(
        names, float(layout["rate_hz"]), int(layout["first_sample_ns"]), samples, clock[:, 0], clock[:, 1]
    )
