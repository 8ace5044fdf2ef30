"""Per-write cost of the DAQ output path: the sim DAQ and the NI-DAQmx backend (on the recording
fake of the Task surface, so this measures rtpose's own overhead around NI's call, not the
driver; on a rig, run it with ``--real-nidaq`` to include the driver and the device).

Measured as the loop uses it: ``OutputController.update`` toggling one digital output every
call (the worst case: a write on every frame), and ``write_value`` of an analog feature output.
Timed with ``time.perf_counter_ns`` around each call.

Run:  python benchmarks/daq_write_cost.py [--writes 20000] [--write] [--real-nidaq]
With --write the figures are appended to benchmarks/results/daq_write_cost.md.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from report import append_result, heading

from rtpose.core.config import parse_config
from rtpose.daq import Daq
from rtpose.daq.limits import OutputController
from rtpose.daq.nidaq import NiDaq
from rtpose.daq.sim import SimDaq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fake_nidaqmx import FakeNidaqmx

DAQ_SECTION: dict[str, Any] = {
    "outputs": [
        {"name": "laser", "line": "Dev1/port0/line0", "max_duty_cycle": 1.0, "max_on_ms": 1e9},
        {"name": "feature", "kind": "analog_feature", "channel": "Dev1/ao0", "feature": "1", "max_volts": 10},
    ]
}


def _toggle_cost(daq: Daq, writes: int) -> np.ndarray:
    config = parse_config({"daq": DAQ_SECTION}).daq
    controller = OutputController(daq, list(config.outputs))
    request = np.zeros(2, np.bool_)
    times = np.empty(writes, np.int64)
    now = 1_000_000_000
    for index in range(writes):
        request[0] = index % 2 == 0
        now += 1_000_000
        start = time.perf_counter_ns()
        controller.update(request, index, now)
        times[index] = time.perf_counter_ns() - start
    controller.drain_events()
    return times


def _value_cost(daq: Daq, writes: int) -> np.ndarray:
    times = np.empty(writes, np.int64)
    for index in range(writes):
        start = time.perf_counter_ns()
        daq.write_value(1, (index % 100) * 0.05)
        times[index] = time.perf_counter_ns() - start
    return times


def _describe(name: str, times: np.ndarray) -> str:
    us = times / 1e3
    p50, p99 = np.percentile(us, [50, 99])
    return f"| {name} | {p50:.1f} | {p99:.1f} | {us.mean():.1f} | {us.max():.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--write", action="store_true", help="append the figures to benchmarks/results")
    parser.add_argument(
        "--real-nidaq", action="store_true", help="use the installed nidaqmx and a real device"
    )
    args = parser.parse_args()
    config = parse_config({"daq": {**DAQ_SECTION, "backend": "nidaq"}}).daq
    backends: dict[str, Daq] = {
        "sim": SimDaq(config),
        "nidaq (fake Task)" if not args.real_nidaq else "nidaq (real)": NiDaq(
            config, nidaqmx_api=None if args.real_nidaq else FakeNidaqmx()
        ),
    }
    rows = ["| path | p50 µs | p99 µs | mean µs | max µs |", "|---|---|---|---|---|"]
    for name, daq in backends.items():
        daq.start()
        gc.collect()
        gc.disable()
        try:
            _toggle_cost(daq, 1000)  # warm-up
            rows.append(
                _describe(
                    f"{name}: OutputController.update, toggle every call", _toggle_cost(daq, args.writes)
                )
            )
            rows.append(_describe(f"{name}: write_value (analog feature)", _value_cost(daq, args.writes)))
        finally:
            gc.enable()
            daq.close()
    text = "\n".join([*heading(__file__, f"{args.writes} writes per row"), *rows, ""])
    print(text)
    if args.write:
        append_result("daq_write_cost", text, "DAQ per-write cost")


if __name__ == "__main__":
    main()
