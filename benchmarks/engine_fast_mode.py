"""Fast mode against the full pipeline on moving synthetic flies, one run, same frames.

The demo package in ONNX Runtime (CPU, 1 thread). Frames: two fly scenes (seeds 11 and 12) at
100 fps (flies move ~1 px per frame), consecutive frames rendered beforehand. Per frame: engine
latency (``time.perf_counter_ns`` around ``infer``) and keypoint error against the scene's ground
truth (slots matched to animals). Both pipelines see the same frames in the same order,
alternating per frame so that machine noise hits both alike.

Goal (issue 4): fast mode at most 0.4× the full pipeline's latency, median error within 0.5 px.

Run:  python benchmarks/engine_fast_mode.py [--frames 600] [--refresh 10] [--write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from report import append_result, heading

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_engine_demo_accuracy import matched_errors

from rtpose.camera.fly_scene import FlyScene
from rtpose.engine import load
from rtpose.engine.options import EngineOptions, FastModeOptions

FPS = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="frames per scene (two scenes)")
    parser.add_argument("--refresh", type=int, default=10, help="fast mode: centroid network every N frames")
    parser.add_argument(
        "--write", action="store_true", help="append to benchmarks/results/engine_fast_mode.md"
    )
    args = parser.parse_args()
    full = load("demo", "onnxruntime")
    fast_options = EngineOptions(fast_mode=FastModeOptions(True, args.refresh, 0.3))
    fast = load("demo", "onnxruntime", options=fast_options)
    latency: dict[str, list[float]] = {"full": [], "fast": []}
    errors: dict[str, list[np.ndarray]] = {"full": [], "fast": []}
    for seed in (11, 12):
        scene = FlyScene(frame_size=(256, 256), seed=seed, fps=FPS)
        for frame_id in range(args.frames):
            frame = np.empty((256, 256, 1), np.uint8)
            scene.render_frame(frame_id, frame)
            truth = scene.poses_at_frame(frame_id)
            for name, engine in (("full", full), ("fast", fast)):
                start = time.perf_counter_ns()
                poses = engine.infer(frame)
                latency[name].append((time.perf_counter_ns() - start) / 1e6)
                errors[name].append(matched_errors(poses.points, truth))
    rows = []
    summary: dict[str, dict[str, float]] = {}
    for name in ("full", "fast"):
        values = np.array(latency[name])
        error = np.stack(errors[name])
        summary[name] = {
            "p50": float(np.median(values)),
            "mean": float(values.mean()),
            "p99": float(np.percentile(values, 99)),
            "error": float(np.median(error)),
            "within5": float((error < 5).mean()),
        }
        s = summary[name]
        rows.append(
            f"| {name} | {s['p50']:.2f} | {s['mean']:.2f} | {s['p99']:.2f} | {s['error']:.3f} | "
            f"{100 * s['within5']:.1f}% |"
        )
    counts = ", ".join(f"{key} {value}" for key, value in sorted(getattr(fast, "counts", {}).items()))
    lines = [
        *heading(__file__, setup=f"demo package, ONNX Runtime CPU 1 thread, 2 scenes × {args.frames} frames"),
        f"Flies at {FPS:.0f} fps; fast mode refreshes every {args.refresh} frames or on a score drop.",
        "",
        "| pipeline | p50 ms | mean ms | p99 ms | median error px | keypoints < 5 px |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Latency ratio fast / full: p50 {summary['fast']['p50'] / summary['full']['p50']:.2f}, "
        f"mean {summary['fast']['mean'] / summary['full']['mean']:.2f}. "
        f"Median error difference: {summary['fast']['error'] - summary['full']['error']:+.3f} px.",
        f"Fast-mode frames: {counts}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        append_result("engine_fast_mode", text, "Fast mode vs the full pipeline (moving synthetic flies)")


if __name__ == "__main__":
    main()
