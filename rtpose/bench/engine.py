"""``rtpose bench engine PACKAGE``: per-frame inference latency and throughput of one backend.

Frames: synthetic flies (``rtpose.camera.fly_scene``) at the package's frame size, rendered once
into a small pool and cycled (the engine's cost barely depends on content, except in fast mode,
where the animals must move: the pool is consecutive frames of a scene, played back and forth).
After ``--warmup`` frames, each ``infer`` call is timed with ``time.perf_counter_ns`` from the
call to the returned poses, which for GPU backends includes the upload and the download. Fast
mode's counts (which path each frame took) cover the timed frames only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtpose.core.errors import RtposeError
from rtpose.engine.options import BACKEND_CHOICES, PRECISIONS, EngineOptions, FastModeOptions, choose_backend

POOL_FRAMES = 32


def add_engine_parser(bench_commands: Any) -> None:
    parser = bench_commands.add_parser(
        "engine",
        help="per-frame latency (p50/p95/p99/max) and throughput of a model package on one backend",
        description=(
            "Runs a model package on synthetic fly frames of its input size: warm-up, then per-frame "
            "latency of engine.infer (p50, p95, p99, max) and throughput, with the machine and backend "
            "described. PACKAGE is a package folder or 'demo'."
        ),
    )
    parser.add_argument("package", help="model package folder, or 'demo' for the bundled one")
    parser.add_argument(
        "--backend", choices=BACKEND_CHOICES, default="auto", help="engine backend (default: auto)"
    )
    parser.add_argument("--frames", type=int, default=500, help="timed frames (default: 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed frames first (default: 50)")
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads of CPU backends (default: 1)"
    )
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32 (default) or fp16")
    parser.add_argument("--no-cuda-graph", action="store_true", help="GPU backends: do not use a CUDA graph")
    parser.add_argument(
        "--providers",
        nargs="+",
        default=[],
        help="onnxruntime: providers (cpu cuda tensorrt); default by availability",
    )
    parser.add_argument("--plan-cache", type=Path, default=None, help="tensorrt: plan cache folder")
    parser.add_argument(
        "--fast-mode",
        type=int,
        default=0,
        metavar="N",
        help="fast mode, centroid network every N frames (default 0: off, the full pipeline)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT", help="also write the results as JSON"
    )


def run_engine_command(args: argparse.Namespace) -> int:
    if args.frames < 1 or args.warmup < 0:
        print("rtpose bench engine: --frames must be at least 1 and --warmup at least 0", file=sys.stderr)
        return 2
    try:
        options = EngineOptions(
            threads=args.threads,
            precision=args.precision,
            cuda_graph=not args.no_cuda_graph,
            providers=tuple(args.providers),
            plan_cache_dir=args.plan_cache,
            fast_mode=FastModeOptions(
                enabled=args.fast_mode > 0, refresh_every_frames=max(args.fast_mode, 1)
            ),
        )
        result = bench_engine(args.package, args.backend, options, args.frames, args.warmup)
    except RtposeError as error:
        print(f"rtpose bench engine: {error}", file=sys.stderr)
        return 2
    print(format_result(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def bench_frames(frame_shape: tuple[int, int, int], count: int = POOL_FRAMES) -> list[npt.NDArray[np.uint8]]:
    """Consecutive frames of a two-fly scene at ``frame_shape`` (grey repeated for 3 channels)."""
    from rtpose.camera.fly_scene import FlyScene

    height, width, channels = frame_shape
    scene = FlyScene(frame_size=(height, width), seed=3, fps=100.0)
    frames = []
    for frame_id in range(count):
        grey = np.empty((height, width, 1), np.uint8)
        scene.render_frame(frame_id, grey)
        frames.append(np.ascontiguousarray(np.repeat(grey, channels, axis=2)))
    return frames + frames[-2:0:-1]  # back and forth: no jump when the pool wraps


def bench_engine(
    package: str | Path, backend: str, options: EngineOptions, frames: int, warmup: int
) -> dict[str, Any]:
    from rtpose.engine import load

    chosen = choose_backend(backend)
    started = time.perf_counter()
    engine = load(package, chosen, options=options)
    load_s = time.perf_counter() - started
    try:
        metadata = engine.metadata
        pool = bench_frames(metadata.frame_shape)
        for index in range(warmup):
            engine.infer(pool[index % len(pool)])
        warmup_counts = Counter(getattr(engine, "counts", {}))
        latencies = np.empty(frames, np.float64)
        run_started = time.perf_counter_ns()
        for index in range(frames):
            frame = pool[index % len(pool)]
            start = time.perf_counter_ns()
            engine.infer(frame)
            latencies[index] = (time.perf_counter_ns() - start) / 1e6
        run_s = (time.perf_counter_ns() - run_started) / 1e9
        describe = getattr(engine, "describe", None)
        counts = dict(Counter(getattr(engine, "counts", {})) - warmup_counts)  # timed frames only
    finally:
        engine.close()
    return {
        "package": {
            "path": str(package),
            "name": metadata.name,
            "frame_shape": list(metadata.frame_shape),
            "max_instances": metadata.max_instances,
            "nodes": metadata.num_nodes,
        },
        "backend": chosen,
        "engine": describe() if describe is not None else type(engine).__name__,
        "machine": machine_description(),
        "frames": frames,
        "warmup": warmup,
        "load_s": round(load_s, 3),
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)),
            "p95": float(np.percentile(latencies, 95)),
            "p99": float(np.percentile(latencies, 99)),
            "max": float(latencies.max()),
            "mean": float(latencies.mean()),
        },
        "throughput_fps": frames / run_s,
        "fast_mode_counts": counts,
    }


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.platform()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def format_result(result: dict[str, Any]) -> str:
    latency = result["latency_ms"]
    package = result["package"]
    shape = "×".join(str(size) for size in package["frame_shape"])
    lines = [
        f"package: {package['name']} ({package['path']}), frame {shape}, K={package['max_instances']}, "
        f"{package['nodes']} nodes",
        f"backend: {result['backend']}: {result['engine']}",
        f"machine: {result['machine']}",
        f"{result['frames']} frames after {result['warmup']} warm-up (load {result['load_s']:.2f} s)",
        f"latency ms: p50 {latency['p50']:.3f}  p95 {latency['p95']:.3f}  p99 {latency['p99']:.3f}  "
        f"max {latency['max']:.3f}  mean {latency['mean']:.3f}",
        f"throughput: {result['throughput_fps']:.1f} frames/s",
    ]
    if result["fast_mode_counts"]:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(result["fast_mode_counts"].items()))
        lines.append(f"fast mode: {counts}")
    return "\n".join(lines)
