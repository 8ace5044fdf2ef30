"""What recording the raw frames (`record.video`, FFV1) costs.

1. The grab thread's part: `VideoRecorder.offer` (one copy into a preallocated buffer), per frame.
2. The encoder process's throughput (frames per second it can keep up with), for the demo's
   256×256 frames and for 1024×1024 (the demo scene tiled), gray.
3. The demo loop (real model, 60 fps, policy `latest`) with video recording off and on: per-stage
   latency from the summaries, and frames the video left out.

Run:  python benchmarks/video_record_cost.py [--frames 600] [--demo-seconds 8] [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from parts import run_demo
from report import append_result, heading

from rtpose.camera.fly_scene import FlyScene
from rtpose.cli import demo_config_path
from rtpose.core.config import load_config, parse_config
from rtpose.record.video import VideoRecorder


def frames_of(size: int, count: int) -> np.ndarray:
    scene = FlyScene()
    tile = np.empty((256, 256, 1), np.uint8)
    frames = np.empty((count, size, size, 1), np.uint8)
    for index in range(count):
        scene.render_frame(index, tile)
        frames[index] = np.tile(tile, (size // 256, size // 256, 1))
    return frames


def encoder_cost(size: int, count: int, folder: Path) -> dict[str, float]:
    frames = frames_of(size, min(count, 64))
    recorder = VideoRecorder(folder / f"v{size}.mkv", (size, size, 1), 60.0, queue_frames=count + 1)
    offer_ns = []
    started = time.perf_counter()
    for index in range(count):
        begin = time.perf_counter_ns()
        recorder.offer(index, frames[index % len(frames)])
        offer_ns.append(time.perf_counter_ns() - begin)
    recorder.close()
    elapsed = time.perf_counter() - started
    size_bytes = (folder / f"v{size}.mkv").stat().st_size
    return {
        "offer_p50_us": float(np.percentile(offer_ns, 50) / 1e3),
        "offer_p99_us": float(np.percentile(offer_ns, 99) / 1e3),
        "encode_fps": count / elapsed,
        "kib_per_frame": size_bytes / count / 1024,
        "raw_kib_per_frame": size * size / 1024,
    }


def demo(seconds: float, video: bool, folder: Path) -> dict[str, object]:
    data = load_config(demo_config_path()).model_dump(mode="json")
    data["record"]["video"] = video
    data["stream"]["address"] = "tcp://127.0.0.1:5597"
    return run_demo(parse_config(data), folder / f"demo-{video}", seconds)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--demo-seconds", type=float, default=8.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [
        *heading(__file__),
        "| frame | offer p50 µs | offer p99 µs | encoder fps | KiB/frame (raw) |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for size in (256, 1024):
            cost = encoder_cost(size, args.frames if size == 256 else args.frames // 4, folder)
            lines.append(
                f"| {size}×{size} gray | {cost['offer_p50_us']:.1f} | {cost['offer_p99_us']:.1f} | "
                f"{cost['encode_fps']:.0f} | {cost['kib_per_frame']:.0f} ({cost['raw_kib_per_frame']:.0f}) |"
            )
        summaries = {video: demo(args.demo_seconds, video, folder) for video in (False, True)}
    lines += [
        "",
        f"Demo loop ({args.demo_seconds} s, 60 fps, real model), latency ms p50 / p99:",
        "",
        "| record.video | wait | engine | end_to_end | frames | video frames (left out) |",
        "|---|---|---|---|---|---|",
    ]
    for video, summary in summaries.items():
        latency = summary["latency_ms"]
        assert isinstance(latency, dict)
        video_stats = summary["video"] or {}
        assert isinstance(video_stats, dict)
        cells = [
            f"{latency[s]['p50']:.2f} / {latency[s]['p99']:.2f}" for s in ("wait", "engine", "end_to_end")
        ]
        written = f"{video_stats['frames_written']} ({video_stats['dropped']})" if video else "-"
        lines.append(f"| {video} | {' | '.join(cells)} | {summary['frames_processed']} | {written} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        append_result("video_record_cost", text, "Video recording cost (record.video, FFV1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
