"""`rtpose bench engine` on the CPU: the demo package and fixture A, on each CPU backend.

- demo (256×256×1, K=2, 5 nodes): onnxruntime (1 and 2 threads), torch (1 thread), and
  onnxruntime with fast mode (centroid network every 10 frames) on moving flies.
- fixture A (shared/fixtures/sleapnn-topdown-A, exported with `rtpose export sleap-nn` into a
  temporary package: 512×512×1, K=2, 4 nodes): onnxruntime and torch.

All in one run, so the ratios between rows are comparable; absolute figures depend on the
machine (described in the heading).

Run:  python benchmarks/engine_cpu.py [--frames 300] [--write]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from report import append_result, heading

from rtpose.bench.engine import bench_engine
from rtpose.engine.options import EngineOptions, FastModeOptions

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT.parent / "shared" / "fixtures" / "sleapnn-topdown-A"


def export_fixture(out: Path) -> Path:
    from export.sleapnn_export import SleapNnExportOptions, export_sleapnn

    export_sleapnn(
        FIXTURE / "centroid", FIXTURE / "centered_instance", out, SleapNnExportOptions(max_instances=2), print
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="append to results/engine_cpu.md")
    args = parser.parse_args()
    fast = FastModeOptions(enabled=True, refresh_every_frames=10)
    runs: list[tuple[str, str, str, EngineOptions]] = [
        ("demo", "demo", "onnxruntime", EngineOptions(threads=1)),
        ("demo", "demo", "onnxruntime", EngineOptions(threads=2)),
        ("demo", "demo", "torch", EngineOptions(threads=1)),
        ("demo, fast mode", "demo", "onnxruntime", EngineOptions(threads=1, fast_mode=fast)),
    ]
    rows: list[str] = []
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        if FIXTURE.is_dir():
            package = str(export_fixture(Path(folder) / "fixture-a"))
            runs += [
                ("fixture A", package, "onnxruntime", EngineOptions(threads=1)),
                ("fixture A", package, "onnxruntime", EngineOptions(threads=2)),
                ("fixture A", package, "torch", EngineOptions(threads=1)),
            ]
        for label, package, backend, options in runs:
            result = bench_engine(package, backend, options, args.frames, args.warmup)
            results.append(result)
            latency = result["latency_ms"]
            rows.append(
                f"| {label} | {backend} | {options.threads} | {latency['p50']:.2f} | {latency['p95']:.2f} | "
                f"{latency['p99']:.2f} | {latency['max']:.2f} | {result['throughput_fps']:.0f} |"
            )
            print(rows[-1], flush=True)
    lines = [
        *heading(__file__, setup=f"{args.frames} frames after {args.warmup} warm-up per row"),
        "| package | backend | threads | p50 ms | p95 ms | p99 ms | max ms | frames/s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Engines: " + "; ".join(sorted({r["engine"] for r in results})),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        append_result("engine_cpu", text, "Engine latency on the CPU (`rtpose bench engine`)")


if __name__ == "__main__":
    main()
