"""Loop overhead and the demo's per-stage latency.

1. Overhead: the whole loop (ring hand-off, identity, rules, output stage, record ring, side
   channels incl. the real recorder and ZeroMQ publisher) with the model replaced by a
   zero-cost engine that returns stored poses, fed by a camera that copies pre-rendered frames.
   Reported per frame: hot-thread time excluding the engine, and the time between frames.
2. Demo: the real `rtpose demo` configuration (synthetic camera at 60 fps, demo model in ONNX
   Runtime, sim DAQ) for a few seconds; the summary's per-stage latency.

Run:  python benchmarks/loop_overhead.py [--frames 3000] [--demo-seconds 10] [--write]
With --write the figures are appended to benchmarks/results/loop_overhead.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from parts import PrerenderedCamera, run_demo
from report import append_result, heading

from rtpose.camera.fly_scene import FlyScene
from rtpose.cli import demo_config_path
from rtpose.core.config import load_config, parse_config
from rtpose.core.types import Poses
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.engine import load as load_engine
from rtpose.record.reader import read_frames
from rtpose.session import PartOverrides, RunOptions, run


class StoredPosesEngine:
    """Returns poses computed beforehand by the real engine: the model's cost is zero."""

    def __init__(self, poses: list[Poses], metadata: object) -> None:
        self._poses = poses
        self.metadata = metadata
        self._next = 0

    def infer(self, frame: np.ndarray) -> Poses:
        poses = self._poses[self._next % len(self._poses)]
        self._next += 1
        return poses

    def close(self) -> None:
        pass


def measure_overhead(frames: int) -> dict[str, float]:
    scene = FlyScene()
    rendered = np.empty((64, 256, 256, 1), np.uint8)
    for index in range(len(rendered)):
        scene.render_frame(index * 7, rendered[index])
    engine = load_engine(DEMO_MODEL_DIR)
    stored = [engine.infer(frame) for frame in rendered]
    data = load_config(demo_config_path()).model_dump(mode="json")
    data["loop"]["frame_policy"] = "every"
    data["stream"]["address"] = "tcp://127.0.0.1:5599"
    config = parse_config(data)
    with tempfile.TemporaryDirectory() as folder:
        overrides = PartOverrides(
            camera=PrerenderedCamera(rendered), engine=StoredPosesEngine(stored, engine.metadata)
        )
        result = run(
            config,
            RunOptions(out=Path(folder) / "run", max_frames=frames, show_status=False, overrides=overrides),
        )
        records = read_frames(result.run_dir)
    hot_ns = (records["daq_write_ns"] - records["engine_start_ns"]) - (
        records["engine_end_ns"] - records["engine_start_ns"]
    )
    between_ns = np.diff(records["engine_start_ns"])
    return {
        "frames": float(len(records)),
        "hot_thread_excl_engine_us_p50": float(np.percentile(hot_ns, 50) / 1e3),
        "hot_thread_excl_engine_us_p99": float(np.percentile(hot_ns, 99) / 1e3),
        "frame_to_frame_us_p50": float(np.percentile(between_ns, 50) / 1e3),
        "frame_to_frame_us_mean": float(between_ns.mean() / 1e3),
        "loop_fps": float(result.summary["fps"]),
    }


def measure_demo(seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        return run_demo(load_config(demo_config_path()), Path(folder) / "run", seconds)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--demo-seconds", type=float, default=10.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    print(f"loop overhead: {args.frames} frames ...", file=sys.stderr)
    overhead = measure_overhead(args.frames)
    print(f"demo: {args.demo_seconds} s ...", file=sys.stderr)
    demo = measure_demo(args.demo_seconds)
    lines = [
        *heading(__file__),
        "Loop overhead (zero-cost engine, every frame, recorder + publisher on):",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value:.1f} |" for name, value in overhead.items()],
        "",
        f"Demo (`rtpose demo` config, {args.demo_seconds} s): {demo['frames_processed']} frames, "
        f"{demo['fps']} fps, {demo['frames_dropped']} dropped, rules {demo['rules']}",
        "",
        "| stage | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
    ]
    latency = demo["latency_ms"]
    assert isinstance(latency, dict)
    lines += [
        f"| {stage} | {v['p50']:.3f} | {v['p99']:.3f} | {v['max']:.3f} |" for stage, v in latency.items()
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        append_result("loop_overhead", text, "Loop overhead and demo per-stage latency")
    return 0


if __name__ == "__main__":
    sys.exit(main())
