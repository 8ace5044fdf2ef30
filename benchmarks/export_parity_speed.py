"""Fixture A, one run: rtpose's package vs sleap-nn's own ONNX export vs a plain torch reference.

All three run the same weights on the same 16 frames (shared/fixtures/sleapnn-topdown-A), on the
CPU, batch 1, 2 threads. Reported per runner: median and p90 latency per frame, and keypoint error
against sleap-nn's own PyTorch predictions (expected.npz; instances matched by centroid).

- rtpose: `rtpose export sleap-nn` into a temporary package, run by rtpose.engine.load (ONNX Runtime).
- sleap-nn export: sleapnn_export/model.onnx in ONNX Runtime (input `image` uint8 N×1×H×W; outputs
  `peaks` N×K×J×2, `centroids`, `instance_valid`; see its export_metadata.json).
- torch: the exporter's fused module (the same graph, eager PyTorch).

Usage: python benchmarks/export_parity_speed.py [--repeats 5] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export.sleapnn import load_topdown_pair  # noqa: E402
from export.sleapnn_export import SleapNnExportOptions, export_sleapnn, topdown_config  # noqa: E402
from export.topdown import TopDownModel  # noqa: E402
from rtpose.engine import load  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "sleapnn-topdown-A"
THREADS = 2
Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # frame → (points K×J×2, centroids K×2)


def rtpose_runner(package: Path) -> Runner:
    engine = load(package, threads=THREADS)

    def run(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        poses = engine.infer(frame)
        return poses.points[poses.valid], poses.centroids[poses.valid]

    return run


def sleapnn_runner() -> Runner:
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(FIXTURE / "sleapnn_export" / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )

    def run(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image = np.ascontiguousarray(frame.transpose(2, 0, 1)[None])
        centroids, _, peaks, _, valid = session.run(None, {"image": image})
        return peaks[0][valid[0]], centroids[0][valid[0]]

    return run


def torch_runner(model: TopDownModel) -> Runner:
    def run(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            points, _, _, valid, centroids = model(torch.from_numpy(frame))
        return points.numpy()[valid.numpy()], centroids.numpy()[valid.numpy()]

    return run


def measure(
    run: Runner, frames: np.ndarray, expected: np.lib.npyio.NpzFile, repeats: int
) -> dict[str, float]:
    run(frames[0])  # warm-up
    latencies_ms, errors = [], []
    for _ in range(repeats):
        for index, frame in enumerate(frames):
            started = time.perf_counter()
            points, centroids = run(frame)
            latencies_ms.append((time.perf_counter() - started) * 1e3)
            for slot, centroid in enumerate(centroids):
                match = int(np.argmin(np.linalg.norm(expected["centroids"][index] - centroid, axis=-1)))
                errors.extend(np.linalg.norm(points[slot] - expected["keypoints"][index, match], axis=-1))
    latencies_ms.sort()
    return {
        "median_ms": statistics.median(latencies_ms),
        "p90_ms": latencies_ms[int(0.9 * (len(latencies_ms) - 1))],
        "median_error_px": float(np.nanmedian(errors)),
        "max_error_px": float(np.nanmax(errors)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "export_parity_speed.md"
    )
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    frames = np.load(FIXTURE / "frames.npz")["frames"]
    expected = np.load(FIXTURE / "expected.npz")
    with tempfile.TemporaryDirectory() as folder:
        package = Path(folder) / "fixture-a"
        export_sleapnn(
            FIXTURE / "centroid",
            FIXTURE / "centered_instance",
            package,
            SleapNnExportOptions(max_instances=2),
            print,
        )
        centroid, instance = load_topdown_pair(FIXTURE / "centroid", FIXTURE / "centered_instance")
        config = topdown_config(centroid, instance, SleapNnExportOptions(max_instances=2), lambda _: None)
        results = {
            "rtpose package (ONNX Runtime)": measure(rtpose_runner(package), frames, expected, args.repeats),
            "sleap-nn export (ONNX Runtime)": measure(sleapnn_runner(), frames, expected, args.repeats),
            "torch (eager, same fused module)": measure(
                torch_runner(TopDownModel(config, centroid.network, instance.network).eval()),
                frames,
                expected,
                args.repeats,
            ),
        }
    rtpose_ms = results["rtpose package (ONNX Runtime)"]["median_ms"]
    peer_ms = results["sleap-nn export (ONNX Runtime)"]["median_ms"]
    lines = [
        "# Export parity and speed on fixture A",
        "",
        f"Command: `python benchmarks/export_parity_speed.py --repeats {args.repeats}`",
        f"Machine: {platform.processor() or platform.machine()}, {THREADS} threads, batch 1, "
        f"ONNX Runtime {ort.__version__}, torch {torch.__version__}; {len(frames)} frames × {args.repeats}.",
        "Error: keypoint distance to sleap-nn 0.3.5's own PyTorch predictions (expected.npz).",
        "",
        "| runner | median ms | p90 ms | median error px | max error px |",
        "|---|---|---|---|---|",
    ]
    for name, row in results.items():
        lines.append(
            f"| {name} | {row['median_ms']:.1f} | {row['p90_ms']:.1f} | "
            f"{row['median_error_px']:.2g} | {row['max_error_px']:.2g} |"
        )
    lines += ["", f"Latency ratio rtpose / sleap-nn export (median): {rtpose_ms / peer_ms:.2f}", ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
