"""The engine benchmark for a GPU machine: one command, every backend available there.

Builds a SLEAP-sized top-down package with random weights (the issue's reference model: 1024×1024
grayscale frames, K = 2 animals, centroid UNet filters 16 at scale 0.5, centered-instance UNet
filters 24 on 160² crops, 13 nodes; both max stride 16, output stride 2) with an fp16 variant,
then runs `rtpose bench engine` on it with each backend present: tensorrt fp32 and fp16 (CUDA
graph), torch on CUDA fp32 and fp16 (CUDA graph), onnxruntime with the CUDA provider, and
onnxruntime on the CPU for scale. Latency does not depend on the weights' values (the graph has
fixed shapes: every slot is computed whether an animal is there or not).

Goal (issue 4, H200-class GPU): p50 ≤ 0.8 ms and p99 ≤ 1.2 ms with the best backend.

Run on the GPU machine:  python benchmarks/engine_gpu.py [--frames 2000] [--write]
(needs rtpose[export] for building the package; tensorrt + cuda-python for the tensorrt rows,
a CUDA build of torch for the torch rows, onnxruntime-gpu for the CUDA-provider row).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from report import append_result, heading

from export.fp16 import write_fp16_variant
from export.package import write_package
from export.topdown import TopDownConfig, TopDownModel
from export.unet import CENTERED_INSTANCE_HEAD, CENTROID_HEAD, UNet, UNetConfig
from rtpose.bench.engine import bench_engine, bench_frames
from rtpose.core.errors import RtposeError
from rtpose.engine.options import EngineOptions

NODES = [f"node{index}" for index in range(13)]
RUNS = [  # (label, backend, precision, providers)
    ("tensorrt fp16", "tensorrt", "fp16", ()),
    ("tensorrt fp32", "tensorrt", "fp32", ()),
    ("torch CUDA fp16", "torch", "fp16", ()),
    ("torch CUDA fp32", "torch", "fp32", ()),
    ("onnxruntime CUDA", "onnxruntime", "fp32", ("cuda",)),
    ("onnxruntime CPU", "onnxruntime", "fp32", ("cpu",)),
]


def sleap_sized_package(out: Path) -> Path:
    torch.manual_seed(0)
    centroid = UNet(
        UNetConfig(1, CENTROID_HEAD, filters=16, filters_rate=2.0, max_stride=16, output_stride=2)
    )
    instance = UNet(
        UNetConfig(
            len(NODES), CENTERED_INSTANCE_HEAD, filters=24, filters_rate=2.0, max_stride=16, output_stride=2
        )
    )
    config = TopDownConfig(
        frame_height=1024,
        frame_width=1024,
        frame_channels=1,
        max_instances=2,
        centroid_scale=0.5,
        crop_size=160,
    )
    model = TopDownModel(config, centroid.eval(), instance.eval()).eval()
    write_package(
        model, out, name="sleap-sized-random", node_names=NODES, provenance={"purpose": "benchmark"}
    )
    frame = bench_frames((1024, 1024, 1), count=2)[0]
    write_fp16_variant(model, out, [frame])
    return out


def error_text(error: BaseException) -> str:
    """The whole error with its causes, on one line (a backend that did not run must say why)."""
    parts = []
    current: BaseException | None = error
    while current is not None:
        parts.append(f"{type(current).__name__}: {' '.join(str(current).split())}")
        current = current.__cause__
    return " <- caused by ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--write", action="store_true", help="append to results/engine_gpu.md")
    args = parser.parse_args()
    rows, results, failures = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        package = sleap_sized_package(Path(folder) / "package")
        for label, backend, precision, providers in RUNS:
            if backend == "torch" and not torch.cuda.is_available():
                rows.append(f"| {label} | not run: torch has no CUDA here | | | | |")
                continue
            frames = args.frames if label != "onnxruntime CPU" else min(args.frames, 100)
            options = EngineOptions(
                precision=precision, providers=providers, threads=4, plan_cache_dir=Path(folder)
            )
            try:
                result = bench_engine(package, backend, options, frames, min(args.warmup, frames))
            except (RtposeError, RuntimeError) as error:
                rows.append(f"| {label} | not run (error below) | | | | |")
                failures.append(f"- {label}: {error_text(error)}")
                print(f"{label}: not run: {error_text(error)}", flush=True)
                continue
            results.append({"label": label, **result})
            latency = result["latency_ms"]
            rows.append(
                f"| {label} | {latency['p50']:.3f} | {latency['p95']:.3f} | {latency['p99']:.3f} | "
                f"{latency['max']:.3f} | {result['throughput_fps']:.0f} |"
            )
            print(f"{label}: {result['engine']}: p50 {latency['p50']:.3f} ms, p99 {latency['p99']:.3f} ms")
    lines = [
        *heading(__file__, setup="SLEAP-sized random-weight package, 1024×1024×1, K=2, 13 nodes, 160² crops"),
        "| backend | p50 ms | p95 ms | p99 ms | max ms | frames/s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *([*failures, ""] if failures else []),
        "Engines: " + "; ".join(f"{r['label']}: {r['engine']}" for r in results),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    print(json.dumps(results, indent=2), file=sys.stderr)
    if args.write:
        append_result("engine_gpu", text, "Engine latency on a GPU (SLEAP-sized model, 1024², 2 animals)")


if __name__ == "__main__":
    main()
