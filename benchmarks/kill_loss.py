"""How much of the record a killed run loses: `rtpose run` (demo rig, 60 fps) killed with SIGKILL
at random moments, N times. Loss = kill time − the DAQ-write time of the last record that read
back (one process clock, CLOCK_MONOTONIC, shared by every process on Linux). POSIX only.

Run:  python benchmarks/kill_loss.py [--kills 8] [--write]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report import append_result, heading

from rtpose.cli import demo_config_path
from rtpose.record.reader import read_frames


def kill_once(folder: Path, port: int, after_s: float) -> tuple[float, int]:
    text = demo_config_path().read_text(encoding="utf-8").replace("5555", str(port))
    config = folder / "rig.toml"
    config.write_text(text, encoding="utf-8")
    out = folder / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "rtpose", "run", str(config), "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    while not ((out / "frames.bin").exists() and (out / "frames.bin").stat().st_size > 0):
        time.sleep(0.02)
    time.sleep(after_s)
    killed_ns = time.perf_counter_ns()
    process.send_signal(signal.SIGKILL)
    process.wait()
    frames = read_frames(out)
    return (killed_ns - int(frames["daq_write_ns"][-1])) / 1e9, len(frames)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not hasattr(signal, "SIGKILL"):
        print("needs SIGKILL (POSIX)", file=sys.stderr)
        return 2
    rng = random.Random(7)
    losses = []
    for index in range(args.kills):
        with tempfile.TemporaryDirectory() as name:
            loss_s, frames = kill_once(Path(name), 5580 + index, rng.uniform(0.5, 2.5))
        losses.append(loss_s)
        print(
            f"kill {index + 1}: {frames} frames read back, lost the last {loss_s * 1000:.0f} ms",
            file=sys.stderr,
        )
    values = np.array(losses) * 1000
    text = "\n".join(
        [
            *heading(__file__, f"{args.kills} kills of the demo rig at 60 fps"),
            "| lost ms: min | median | max | stated bound |",
            "|---|---|---|---|",
            f"| {values.min():.0f} | {np.median(values):.0f} | {values.max():.0f} | 500 |",
            "",
        ]
    )
    print(text)
    if args.write:
        append_result("kill_loss", text, "Record lost when a run is killed (SIGKILL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
