"""How long `rtpose convert` takes per format, on a synthetic recording of N frames (demo layout:
K=2, J=5, one rule, one output), written with the real recorder and run header.

Run:  python benchmarks/convert_speed.py [--frames 100000] [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report import append_result, heading

from rtpose.cli import demo_config_path
from rtpose.convert import convert_run
from rtpose.core.config import load_config
from rtpose.core.frame_record import frame_record_dtype
from rtpose.core.model_metadata import read_metadata
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.record import Recorder
from rtpose.run_folder import write_run_header


def make_run(folder: Path, frames: int) -> Path:
    run = folder / "run"
    run.mkdir()
    write_run_header(run, load_config(demo_config_path()), read_metadata(DEMO_MODEL_DIR), DEMO_MODEL_DIR)
    dtype = frame_record_dtype(2, 5, 1, 1)
    rows = np.zeros(frames, dtype)
    rows["frame_id"] = np.arange(frames)
    rows["grab_ns"] = np.arange(frames) * 16_666_667
    rows["camera_timestamp_ns"] = -1
    rows["points"] = np.random.default_rng(0).uniform(0, 256, rows["points"].shape)
    rows["point_scores"] = 0.9
    rows["instance_scores"] = 0.95
    rows["valid"] = True
    rows["identities"] = [0, 1]
    rows["rule_active"][frames // 3 : frames // 2] = 1
    labels = {
        "nodes": ["head", "thorax", "abdomen", "wing_left", "wing_right"],
        "animals": ["female", "male"],
    }
    with Recorder(run, dtype, labels={**labels, "rules": ["male_approach"], "outputs": ["opto"]}) as recorder:
        for row in rows:
            recorder.handle_frame(row)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [
        *heading(__file__, f"{args.frames} frames, 2 instances × 5 nodes"),
        "| format | seconds | µs per frame | file MiB |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as name:
        run = make_run(Path(name), args.frames)
        for fmt in ("csv", "slp", "nwb"):
            started = time.perf_counter()
            path, _ = convert_run(run, fmt)
            seconds = time.perf_counter() - started
            size = path.stat().st_size / 2**20
            lines.append(f"| {fmt} | {seconds:.1f} | {seconds / args.frames * 1e6:.0f} | {size:.1f} |")
            print(lines[-1], file=sys.stderr)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        append_result("convert_speed", text, "Conversion speed (rtpose convert)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
